"""The rows a sync writes: intake's tables, the column orders of bulk inserts, and compact prepared records.

A standardized record becomes a `Prepared` tuple of already-converted values (`Layout.prepare`), so the process
that writes does no per-value work; ids are allocated up front so bulk inserts need no RETURNING.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, column, func, select, text
from sqlalchemy import table as bare_table
from sqlalchemy.engine import Connection

from context.bulkwrite import Converter, bulk_insert, column_converters
from context.canonical.models import (
    Company,
    CustomerRecord,
    Identifier,
    Interaction,
    Order,
    OrderItem,
    Subscription,
    Ticket,
)
from context.dbtypes import table_of
from context.intake.mapping import MappedRecord, Quarantined
from context.intake.models import (
    QuarantinedValue,
    RawRecord,
    RecordHead,
    SourceCursor,
    SyncRun,
)
from context.intake.standardize import label_key

RAW = table_of(RawRecord)


HEADS = table_of(RecordHead)


QUARANTINE = table_of(QuarantinedValue)


RUNS = table_of(SyncRun)


CURSORS = table_of(SourceCursor)


# Identity's block keys point at customer records; a tombstone removes its record's keys first. Named here
# as a bare table (not imported): intake sits below identity and must not import it.
BLOCK_KEYS = bare_table("identity_block_keys", column("record_id"))


RECORDS = table_of(CustomerRecord)


IDENTIFIERS = table_of(Identifier)


COMPANIES = table_of(Company)


ORDERS = table_of(Order)


ITEMS = table_of(OrderItem)


ENTITY_TABLES: dict[str, Table] = {
    "order": ORDERS,
    "subscription": table_of(Subscription),
    "ticket": table_of(Ticket),
    "interaction": table_of(Interaction),
}


PERSON_COLUMNS = [
    c.name
    for c in RECORDS.columns
    if c.name not in {"id", "source", "source_record_id", "customer_id", "synced_at", "blank_fields", "extra"}
    and c.name not in {"source_updated_at", "company_id"}
]


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """Reserve `count` primary keys so bulk inserts need no RETURNING (row-at-a-time on SQLite).

    PostgreSQL draws from the table's sequence. On SQLite the batch transaction already holds the write
    lock (it starts by updating its sync run), so max(id) cannot move under us.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),
            {"n": count},
        )
        return [int(r[0]) for r in rows]
    start = conn.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(start + 1, start + count + 1))


def insert_with_ids(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows with pre-allocated ids (plain executemany); returns the ids in row order."""
    ids = allocate_ids(conn, table, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    bulk_insert(conn, table, rows)
    return ids


# (record id, payload, notes from reading) for each record to standardize
MapItem = tuple[str, dict[str, Any], list[Quarantined]]


# A standardized record as compact, ready-to-insert values (already converted for the database's dialect), so
# the process that writes does no per-value work and unpickles plain tuples:
# (record id, person values in PERSON_PREPARED order, (company key, name, domain) or None,
#  source_updated_at, identifiers [(kind, value)], entity values in `Layout.entity_columns` order or None,
#  order items in ITEM_PREPARED order, quarantine [(field, raw value, reason)])
Prepared = tuple[
    str,
    tuple[Any, ...],
    tuple[str, str, Any] | None,
    Any,
    list[tuple[str, str]],
    tuple[Any, ...] | None,
    list[tuple[Any, ...]],
    list[tuple[str, str | None, str]],
]


PERSON_PREPARED = (*PERSON_COLUMNS, "source_updated_at", "blank_fields", "extra")


PERSON_INSERT = (*PERSON_PREPARED, "source", "source_record_id", "company_id", "synced_at", "id")


ENTITY_FIXED = ("source", "source_record_id", "record_id", "source_updated_at", "id")


ITEM_PREPARED = ("sku", "name", "quantity", "unit_price")


ITEM_INSERT = ("order_id", "source", "source_record_id", "source_updated_at", *ITEM_PREPARED)


IDENTIFIER_INSERT = ("source", "source_record_id", "record_id", "kind", "value", "source_updated_at")


QUARANTINE_INSERT = (
    "source",
    "source_record_id",
    "field",
    "raw_value",
    "reason",
    "raw_record_id",
    "sync_run_id",
    "created_at",
)


RAW_INSERT = ("source", "source_record_id", "version", "content_hash", "payload", "fetched_at", "sync_run_id", "id")


HEAD_INSERT = (
    "source",
    "source_record_id",
    "version",
    "content_hash",
    "mapping_hash",
    "raw_record_id",
    "customer_record_id",
)


class Layout:
    """Column orders and value converters for one dialect and entity kind."""

    def __init__(self, dialect_name: str, entity: str) -> None:
        self.dialect_name = dialect_name
        self.person = column_converters(RECORDS, PERSON_PREPARED, dialect_name)
        self.timestamp = column_converters(RAW, ["fetched_at"], dialect_name)[0]
        self.entity_table = ENTITY_TABLES.get(entity)
        self.entity_columns: tuple[str, ...] = ()
        self.entity: list[Converter | None] = []
        if self.entity_table is not None:
            self.entity_columns = tuple(c.name for c in self.entity_table.columns if c.name not in ENTITY_FIXED)
            self.entity = column_converters(self.entity_table, self.entity_columns, dialect_name)
        self.item = column_converters(ITEMS, ITEM_PREPARED, dialect_name)
        self.json = column_converters(RECORDS, ["extra"], dialect_name)[0]
        # Only the few columns that need converting are visited per record (prepare runs for every record).
        self._person_converted = _needing(self.person)
        self._entity_converted = _needing(self.entity)
        self._item_converted = _needing(self.item)
        self._orders = self.entity_table is ORDERS
        self._tracking_at = self.entity_columns.index("tracking_numbers") if self._orders else -1

    def time(self, value: datetime | None) -> Any:
        """A timestamp as the driver takes it."""
        return value if self.timestamp is None else self.timestamp(value)

    def prepare(self, record: MappedRecord) -> Prepared:
        """Turn a standardized record into compact, converted insert values."""
        person = record.person
        company_name = person.get("company")
        company = (label_key(company_name), company_name, person.get("company_domain")) if company_name else None
        get = person.get
        values = [get(name) for name in PERSON_COLUMNS]
        values += [record.updated_at, record.blank_fields, {}]
        identifiers = list(dict.fromkeys(record.identifiers))  # first occurrence of each pair, in order
        entity = None
        if self.entity_table is not None:
            found = record.entity
            row = [found.get(name) for name in self.entity_columns]
            if self._orders and row[self._tracking_at] is None:
                row[self._tracking_at] = []
            entity = _converted(row, self._entity_converted)
        item_converted = self._item_converted
        items = [
            _converted(
                [item.get("sku"), item.get("name"), item.get("quantity", 1), item.get("unit_price")], item_converted
            )
            for item in record.items
        ]
        return (
            record.record_id,
            _converted(values, self._person_converted),
            company,
            self.time(record.updated_at),
            identifiers,
            entity,
            items,
            [(q.field, q.raw_value, q.reason) for q in record.quarantine],
        )


def _needing(converters: list[Converter | None]) -> list[tuple[int, Converter]]:
    return [(i, conv) for i, conv in enumerate(converters) if conv is not None]


def _converted(values: list[Any], converters: list[tuple[int, Converter]]) -> tuple[Any, ...]:
    """`convert_values` for a row whose converted columns are known (`_needing`): only those are visited."""
    for i, conv in converters:
        values[i] = conv(values[i])
    return tuple(values)


@lru_cache(maxsize=32)
def layout_for(dialect_name: str, entity: str) -> Layout:
    """The (cached) layout of one dialect and entity kind."""
    return Layout(dialect_name, entity)
