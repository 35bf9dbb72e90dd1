"""The Alembic migrations create the schema the code expects."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from contextdesk.db import head_revisions, is_up_to_date, make_engine
from contextdesk.models_registry import metadata
from tests.conftest import POSTGRES_ADMIN_URL, POSTGRES_AVAILABLE


def test_migrations_create_every_table(engine: Engine) -> None:
    assert is_up_to_date(engine)
    assert head_revisions()
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_heads_read_from_the_files_match_alembic() -> None:
    """The CLI's start-up check reads head revisions without Alembic; it must agree with Alembic."""
    from contextdesk.db import declared_head_revisions, head_revisions

    assert declared_head_revisions() == head_revisions()


# Each process waits for the go file, then does what a starting server does: migrate unless up to date.
_START_LIKE_A_SERVER = """
import sys, time
from pathlib import Path
from contextdesk.db import is_up_to_date, make_engine, upgrade
url, go = sys.argv[1], Path(sys.argv[2])
engine = make_engine(url)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
if not is_up_to_date(engine):
    upgrade(engine)
print("ok")
"""


def _start_at_once(url: str, tmp_path: Path, processes: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """Start several processes that migrate the same empty database at the same moment."""
    go = tmp_path / "go"
    running = [
        subprocess.Popen(
            [sys.executable, "-c", _START_LIKE_A_SERVER, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    # Released together once every interpreter has imported and is waiting.
    for process in running:
        assert process.stdout is not None
        process.stdout.readline()
    go.touch()
    results = []
    for process in running:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def _assert_migrated_once(url: str, results: list[subprocess.CompletedProcess[str]]) -> None:
    failures = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert failures == [], failures
    engine = make_engine(url)
    try:
        assert is_up_to_date(engine)
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_several_workers_starting_on_an_empty_sqlite_file_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    _assert_migrated_once(url, _start_at_once(url, tmp_path))


def test_several_workers_starting_on_an_empty_postgres_database_migrate_it_once(tmp_path: Path) -> None:
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL not reachable at CONTEXTDESK_TEST_POSTGRES_URL")
    name = f"cd_migrate_race_{os.getpid()}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        _assert_migrated_once(url, _start_at_once(url, tmp_path))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
