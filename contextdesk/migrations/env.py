"""Alembic environment: uses the connection handed in by contextdesk.db.upgrade, or the URL."""

from alembic import context as alembic_context
from sqlalchemy import engine_from_config, pool

from contextdesk.models_registry import metadata

config = alembic_context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        alembic_context.configure(
            connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
        )
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        alembic_context.configure(connection=conn, target_metadata=metadata, render_as_batch=True, compare_type=True)
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()


run_migrations()
