"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable), migrated by Alembic."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contextdesk.db import make_engine, upgrade


def _postgres_url() -> str:
    """Where the PostgreSQL tests run: CONTEXTDESK_TEST_POSTGRES_URL, a postgres DATABASE_URL, or the local server."""
    for name in ("CONTEXTDESK_TEST_POSTGRES_URL", "DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgresql", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under libfaketime (CI's shifted-clock run) skip tests that need a timed wait on a lock or future to expire.

    libfaketime 0.9.10 shifts the monotonic clock Python computes such a wait's deadline from, but not the
    semaphore wait itself, so the wait never times out. These tests read no date: the first run covers them.
    """
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return
    skip = pytest.mark.skip(reason="a timed wait never expires under libfaketime; covered by the unshifted run")
    for item in items:
        if item.get_closest_marker("timed_wait"):
            item.add_marker(skip)


# Each test worker creates (and drops) its own database on this server.
POSTGRES_ADMIN_URL = _postgres_url()


def _postgres_reachable() -> bool:
    try:
        eng = make_engine(POSTGRES_ADMIN_URL)
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


POSTGRES_AVAILABLE = _postgres_reachable()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster than per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test worker's own, dropped at the end."""
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL not reachable at CONTEXTDESK_TEST_POSTGRES_URL")
    name = f"contextdesk_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(eng: Engine) -> None:
    with eng.begin() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                text("select tablename from pg_tables where schemaname='public' and tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "contextdesk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        url = request.getfixturevalue("postgres_database")
        eng = make_engine(url)
        _truncate_all(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite database (for tests that need only one backend)."""
    path = tmp_path / "contextdesk.db"
    shutil.copy(sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()
