"""Bulk-write helpers on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from context.bulkwrite import indexes_deferred, insert_tuples
from context.canonical.models import CustomerRecord
from context.dbtypes import table_of
from context.identity.models import BlockKey


def _indexes(conn: Connection, name: str) -> list[tuple[str, tuple[str, ...], bool]]:
    return sorted(
        (str(ix["name"]), tuple(str(c) for c in ix["column_names"]), bool(ix.get("unique")))
        for ix in inspect(conn).get_indexes(name)
    )


def test_indexes_deferred_drops_and_rebuilds_the_same_indexes(engine: Engine) -> None:
    table = table_of(BlockKey)
    with engine.connect() as conn:
        before = _indexes(conn, table.name)
    assert {cols for _, cols, _ in before} == {("key",), ("record_id",)}
    with engine.begin() as conn:
        with indexes_deferred(conn, table):
            assert _indexes(conn, table.name) == []
        assert _indexes(conn, table.name) == before
    with engine.connect() as conn:
        assert _indexes(conn, table.name) == before


def test_indexes_deferred_on_some_columns_leaves_the_other_indexes(engine: Engine) -> None:
    table = table_of(CustomerRecord)
    with engine.connect() as conn:
        before = _indexes(conn, table.name)
    with engine.begin() as conn:
        with indexes_deferred(conn, table, ["customer_id"]):
            during = _indexes(conn, table.name)
        assert _indexes(conn, table.name) == before
    dropped = [ix for ix in before if ix not in during]
    assert dropped == [ix for ix in before if "customer_id" in ix[1] and not ix[2]]
    assert dropped


def test_a_failed_write_rolls_the_dropped_indexes_back(engine: Engine) -> None:
    table = table_of(BlockKey)
    with engine.connect() as conn:
        before = _indexes(conn, table.name)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        # A write first: SQLite's driver opens its transaction at the first write, and DDL must fall inside it.
        conn.exec_driver_sql("DELETE FROM identity_block_keys")
        with indexes_deferred(conn, table):
            insert_tuples(conn, table, ["record_id", "key"], [])
            raise RuntimeError("the write failed")
    with engine.connect() as conn:
        assert _indexes(conn, table.name) == before
