"""The migrated schema is exactly what the SQLModel models declare, on SQLite and PostgreSQL.

Alembic's autogenerate comparison runs against a database migrated to head: any difference means a model
changed without a migration (or a migration without its model). Nothing is filtered: the comparison is
clean today on both dialects, types and server defaults included, so any entry is a real difference.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from contextdesk.models_registry import metadata


def _drift(engine: Engine, target: sa.MetaData) -> list[Any]:
    """What `alembic revision --autogenerate` would put in a new migration for `target`."""
    with engine.connect() as conn:
        # The options of contextdesk/migrations/env.py, plus server defaults, so a changed default counts too.
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, target))


def _copy_of_models() -> sa.MetaData:
    copy = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy)
    return copy


def test_the_migrations_build_exactly_the_schema_the_models_declare(engine: Engine) -> None:
    assert _drift(engine, metadata) == []


def test_a_column_added_to_a_model_without_a_migration_is_caught(engine: Engine) -> None:
    models = _copy_of_models()
    models.tables["customer_records"].append_column(sa.Column("loyalty_tier", sa.String(16), nullable=True))
    drift = _drift(engine, models)
    assert [(d[0], d[2], d[3].name) for d in drift] == [("add_column", "customer_records", "loyalty_tier")]


def test_a_table_added_without_a_migration_is_caught(engine: Engine) -> None:
    models = _copy_of_models()
    sa.Table("refund_requests", models, sa.Column("id", sa.Integer, primary_key=True))
    drift = _drift(engine, models)
    assert [(d[0], d[1].name) for d in drift] == [("add_table", "refund_requests")]


def test_a_widened_column_without_a_migration_is_caught(engine: Engine) -> None:
    models = _copy_of_models()
    models.tables["customer_records"].c.postcode.type = sa.String(64)
    drift = _drift(engine, models)
    # A type change is reported as a group of modifications of one column.
    assert len(drift) == 1 and drift[0][0][0] == "modify_type"
    assert drift[0][0][2:4] == ("customer_records", "postcode")


def test_an_index_declared_on_a_model_without_a_migration_is_caught(engine: Engine) -> None:
    models = _copy_of_models()
    sa.Index("ix_customer_records_city", models.tables["customer_records"].c.city)
    drift = _drift(engine, models)
    assert [(d[0], d[1].name) for d in drift] == [("add_index", "ix_customer_records_city")]
