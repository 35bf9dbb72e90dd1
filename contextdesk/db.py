"""Database engines and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

# The engine factory lives upstream so every package (e.g. evals copying a store) makes engines the same way.
from context.engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, *, revision: str = "heads") -> None:
    """Apply migrations up to `revision` (all heads by default) on the engine's database."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revisions(engine: Engine) -> set[str]:
    """Revisions the database is at (empty if never migrated)."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def head_revisions() -> set[str]:
    """Revisions the code expects."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def is_up_to_date(engine: Engine) -> bool:
    """Whether the database schema matches the code's migrations."""
    return current_revisions(engine) == head_revisions()


__all__ = ["current_revisions", "head_revisions", "is_up_to_date", "make_engine", "upgrade"]
