"""Database engines and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import functools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

# The engine factory lives upstream so every package (e.g. evals copying a store) makes engines the same way.
from context.engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


#: First key of the PostgreSQL advisory lock held while migrating (the second is the schema's hash).
MIGRATION_LOCK_KEY = zlib.crc32(b"contextdesk.db.upgrade") & 0x7FFFFFFF


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held while migrating, so that of several processes starting on an empty database one migrates.

    PostgreSQL: a session advisory lock per schema (released when the connection ends, even on a crash).
    SQLite: an OS file lock beside the database file (an in-memory database has a single process anyway).
    The others wait here, then find the schema at head and have nothing to do.
    """
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        with engine.connect() as connection:
            key = {"key": MIGRATION_LOCK_KEY}
            connection.execute(text("SELECT pg_advisory_lock(:key, hashtext(current_schema()))"), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"), key)
                connection.commit()
    elif backend == "sqlite" and engine.url.database and engine.url.database != ":memory:":
        from filelock import FileLock

        with FileLock(f"{engine.url.database}.migrate.lock"):
            yield
    else:
        yield


def upgrade(engine: Engine, *, revision: str = "heads") -> None:
    """Apply migrations up to `revision` (all heads by default) on the engine's database, one process at a time."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_lock(engine), engine.begin() as connection:
        # Alembic reads the current revision inside the lock: a process that waited finds nothing left to do.
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revisions(engine: Engine) -> set[str]:
    """Revisions the database is at (empty if never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def head_revisions() -> set[str]:
    """Revisions the code expects."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


@functools.cache
def declared_head_revisions() -> frozenset[str]:
    """The head revisions read straight from the migration files (no Alembic import: CLI start-up time).

    A revision is a head when no other revision names it as its `down_revision`.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        # Only the header, where Alembic writes the identifiers: parsing whole migrations cost ~30 ms a command.
        header = path.read_text(encoding="utf-8").split("\ndef ", 1)[0]
        for node in ast.parse(header).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value_node = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value_node = node.targets[0], node.value
            else:
                continue
            if not isinstance(target, ast.Name):
                continue
            value = ast.literal_eval(value_node) if target.id in ("revision", "down_revision") else None
            if target.id == "revision":
                revisions.add(str(value))
            elif target.id == "down_revision" and value is not None:
                parents.update([value] if isinstance(value, str) else value)
    return frozenset(revisions - parents)


def is_up_to_date(engine: Engine) -> bool:
    """Whether the database schema matches the code's migrations (one query; Alembic only if it does not)."""
    try:
        with engine.connect() as connection:
            current = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    except DBAPIError:
        return False  # no alembic_version table yet: never migrated
    return current == declared_head_revisions()


__all__ = [
    "current_revisions",
    "declared_head_revisions",
    "head_revisions",
    "is_up_to_date",
    "make_engine",
    "migration_lock",
    "upgrade",
]
