"""Sync: read sources, store raw records, standardize into canonical rows, quarantine what fails.

Idempotent by content hash: an unchanged record costs one indexed lookup and writes nothing; a changed
record appends a raw version and rewrites only its own canonical rows (keeping the customer record id
that identity resolution points at).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from queue import Empty, Queue
from typing import Any

import httpx
import orjson
from sqlalchemy import Table, bindparam, column, delete, func, insert, select, text, update
from sqlalchemy import table as bare_table
from sqlalchemy.engine import Connection, Engine

from context.bulkwrite import Converter, bulk_insert, column_converters, convert_values, insert_tuples, update_tuples
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
from context.dbtypes import Clock, table_of
from context.errors import ConnectorError, ContextError
from context.intake.check import configured_statuses, fill_rates, mapping_warnings
from context.intake.config import IntakeConfig, SourceConfig
from context.intake.connectors import Connections, Connector, Page, open_connector
from context.intake.mapping import MappedRecord, MapStats, Quarantined, RecordMapper, content_hash
from context.intake.models import (
    QuarantinedValue,
    RawRecord,
    RecordHead,
    SourceCursor,
    SourceSummary,
    SyncCounts,
    SyncRun,
)
from context.intake.sources import Source, SourcePayload, open_source
from context.intake.standardize import label_key

BATCH_SIZE = 2000

# (source name, work done, total work or None, records read so far)
ProgressCallback = Callable[[str, int, int | None, int], None]


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


def _allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
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


def _insert_with_ids(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows with pre-allocated ids (plain executemany); returns the ids in row order."""
    ids = _allocate_ids(conn, table, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    bulk_insert(conn, table, rows)
    return ids


def sync(
    *,
    engine: Engine,
    config: IntakeConfig,
    clock: Clock,
    source_names: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
    workers: int = 1,
    connections: Connections | None = None,
) -> list[SourceSummary]:
    """Sync the named sources (all by default); a failing source is reported and the others still sync.

    `source_names` may name a connector entry (`shopify`) for all its streams. Push sources are skipped (they
    receive records, there is nothing to read).
    """
    selected = select_sources(config, source_names)
    return [
        sync_source(
            engine=engine,
            config=config,
            source=s,
            clock=clock,
            on_progress=on_progress,
            workers=workers,
            connections=connections,
        )
        for s in selected
        if s.kind != "push"
    ]


def select_sources(config: IntakeConfig, names: Sequence[str] | None) -> list[SourceConfig]:
    """The sources called `names` (a connector's name selects all its streams); all of them when None."""
    if not names:
        return list(config.sources)
    out: list[SourceConfig] = []
    for name in names:
        streams = [s for s in config.sources if s.connector == name]
        out.extend(streams or [config.source(name)])
    return out


def open_reader(config: IntakeConfig, source: SourceConfig, connections: Connections | None) -> Source:
    """The reader of a source: a file reader, or a connector stream (which needs `connections`)."""
    if source.kind in ("csv", "json", "jsonl"):
        return open_source(config, source)
    if connections is None:
        raise ContextError(f"source {source.name!r} ({source.kind}) needs connections (credentials) to read")
    return open_connector(source, connections)


def mapping_fingerprint(config: IntakeConfig, source: SourceConfig) -> str:
    """A hash of everything that affects how this source's records are standardized."""
    relevant = {
        "source": source.model_dump(mode="json", exclude={"path", "encoding", "delimiter", "records"}),
        "maps": config.value_maps,
        "nulls": sorted(config.null_values),
        "region": config.default_region,
        "tz": config.timezone,
    }
    return hashlib.blake2b(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def sync_source(
    *,
    engine: Engine,
    config: IntakeConfig,
    source: SourceConfig,
    clock: Clock,
    on_progress: ProgressCallback | None = None,
    workers: int = 1,
    batch_size: int = BATCH_SIZE,
    connections: Connections | None = None,
) -> SourceSummary:
    """Sync one source in batches; returns its summary (status `failed` with the error if it could not be read).

    With `workers=N` (default 1) a source bigger than one batch is standardized in N other processes while
    this one writes earlier batches to the database; `workers=0` does everything inline.
    """
    started = time.perf_counter()
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(RUNS).values(source=source.name, started_at=clock(), status="running").returning(RUNS.c.id)
        ).scalar_one()
    counts = SyncCounts()
    stats = MapStats()
    status, error = "ok", None
    pool: ProcessPoolExecutor | None = None
    reader: Source | None = None
    try:
        reader = open_reader(config, source, connections)
        mapper = RecordMapper(config, source)
        fingerprint = mapping_fingerprint(config, source)
        if isinstance(reader, Connector):
            _sync_pages(engine, source, reader, mapper, fingerprint, run_id, counts, stats, clock, on_progress)
        else:
            # Batches standardized (in workers) but not yet written, oldest first; at most `workers` in flight.
            pending: deque[_Batch] = deque()
            seen: set[int] = set()
            batch: list[SourcePayload] = []
            batches_seen = 0

            layout = _layout(engine.dialect.name, source.entity)

            def write_next() -> None:
                plan = pending.popleft()
                if plan.mapped is None and plan.future is None:  # a first batch that never got a worker
                    plan.mapped = _map_records(mapper, layout, plan.to_map)
                _write_batch(engine, source, fingerprint, run_id, plan, counts, stats, clock())

            def handle(items: list[SourcePayload]) -> None:
                nonlocal pool, batches_seen
                batches_seen += 1
                # Ids are unique across batches (see `seen`), so batches in flight never touch the same record.
                plan = _plan_batch(engine, mapper, fingerprint, source, items, counts, seen)
                if workers > 0 and pool is None and batches_seen > 1:
                    # Only sources bigger than one batch are worth a second process.
                    pool = ProcessPoolExecutor(
                        max_workers=workers,
                        mp_context=multiprocessing.get_context("fork"),
                        initializer=_init_worker,
                        initargs=(config, source, engine.dialect.name),
                    )
                    for waiting in pending:
                        if waiting.mapped is None and waiting.future is None:
                            waiting.future = pool.submit(_map_in_worker, waiting.to_map)
                if plan.to_map:
                    if pool is not None:
                        plan.future = pool.submit(_map_in_worker, plan.to_map)
                    elif workers == 0:
                        plan.mapped = _map_records(mapper, layout, plan.to_map)
                    # else: the first batch waits, unmapped, to see whether a worker is worth starting.
                    pending.append(plan)
                while len(pending) > max(workers, 1) or (pending and workers == 0):
                    write_next()

            try:
                for item in reader.read():
                    batch.append(item)
                    if len(batch) >= batch_size:
                        handle(batch)
                        batch = []
                        if on_progress:
                            done, total = reader.progress()
                            on_progress(source.name, done, total, counts.read)
                if batch:
                    handle(batch)
            except ContextError:
                # A malformed line stops the source, but every good record read before it is still stored.
                if batch:
                    handle(batch)
                while pending:
                    write_next()
                raise
            while pending:
                write_next()
            if on_progress:
                done, total = reader.progress()
                on_progress(source.name, total or done, total, counts.read)
    except ContextError as exc:
        status, error = "failed", str(exc)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if isinstance(reader, Connector):
            reader.close()
    with engine.begin() as conn:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(
                finished_at=clock(),
                status=status,
                error=error,
                **counts.model_dump(),
            )
        )
    return SourceSummary(
        source=source.name,
        status=status,
        **counts.model_dump(),
        error=error,
        seconds=time.perf_counter() - started,
        mapped=stats.mapped,
        fill=fill_rates(source, stats),
        warnings=mapping_warnings(source, stats, known_statuses=configured_statuses(config)),
    )


# (record id, payload, notes from reading) for each record to standardize
MapItem = tuple[str, dict[str, Any], list[Quarantined]]

# A standardized record as compact, ready-to-insert values (already converted for the database's dialect), so
# the process that writes does no per-value work and unpickles plain tuples:
# (record id, person values in PERSON_PREPARED order, (company key, name, domain) or None,
#  source_updated_at, identifiers [(kind, value)], entity values in `_Layout.entity_columns` order or None,
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


class _Layout:
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

    def time(self, value: datetime | None) -> Any:
        """A timestamp as the driver takes it."""
        return value if self.timestamp is None else self.timestamp(value)

    def prepare(self, record: MappedRecord) -> Prepared:
        """Turn a standardized record into compact, converted insert values."""
        person = record.person
        company_name = person.get("company")
        company = (label_key(company_name), company_name, person.get("company_domain")) if company_name else None
        values = [person.get(name) for name in PERSON_COLUMNS]
        values += [record.updated_at, record.blank_fields, {}]
        seen: set[tuple[str, str]] = set()
        identifiers = []
        for pair in record.identifiers:
            if pair not in seen:
                seen.add(pair)
                identifiers.append(pair)
        entity = None
        if self.entity_table is not None:
            row = dict.fromkeys(self.entity_columns)
            row.update({k: v for k, v in record.entity.items() if k in row})
            if self.entity_table is ORDERS and row.get("tracking_numbers") is None:
                row["tracking_numbers"] = []
            entity = convert_values(list(row.values()), self.entity)
        items = [
            convert_values(
                (item.get("sku"), item.get("name"), item.get("quantity", 1), item.get("unit_price")), self.item
            )
            for item in record.items
        ]
        return (
            record.record_id,
            convert_values(values, self.person),
            company,
            self.time(record.updated_at),
            identifiers,
            entity,
            items,
            [(q.field, q.raw_value, q.reason) for q in record.quarantine],
        )


@lru_cache(maxsize=32)
def _layout(dialect_name: str, entity: str) -> _Layout:
    return _Layout(dialect_name, entity)


@dataclass(slots=True)
class _Batch:
    """A batch read and classified against the record heads, waiting to be written."""

    latest: dict[str, tuple[dict[str, Any], str]]
    heads: dict[str, Any]
    new_ids: list[str]
    changed_ids: list[str]
    remap_ids: list[str]
    to_map: list[MapItem]
    mapped: tuple[list[Prepared], MapStats] | None = None
    future: Future[tuple[list[Prepared], MapStats]] | None = None


def _plan_batch(
    engine: Engine,
    mapper: RecordMapper,
    fingerprint: str,
    source: SourceConfig,
    batch: list[SourcePayload],
    counts: SyncCounts,
    seen: set[int],
) -> _Batch:
    latest: dict[str, tuple[dict[str, Any], str]] = {}
    notes: dict[str, list[Quarantined]] = {}
    duplicates = 0
    for item in batch:
        record_id = mapper.record_id(item.payload)
        digest = content_hash(item.payload)
        if record_id is None:
            record_id = f"hash:{digest[:16]}"
            where = f" (line {item.line})" if item.line else ""
            notes[record_id] = [Quarantined("id", None, f"record has no id{where}; stored under its content hash")]
        # A source listing the same id twice: the first occurrence wins, so re-syncs stay idempotent
        # (last-wins would need to see the whole file first). `seen` holds a 64-bit hash per id.
        key = hash(record_id)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        latest[record_id] = (item.payload, digest)
    with engine.connect() as conn:
        heads = {
            row.source_record_id: row
            for row in conn.execute(
                select(
                    HEADS.c.source_record_id,
                    HEADS.c.version,
                    HEADS.c.content_hash,
                    HEADS.c.mapping_hash,
                    HEADS.c.raw_record_id,
                    HEADS.c.customer_record_id,
                ).where(HEADS.c.source == source.name, HEADS.c.source_record_id.in_(list(latest)))
            )
        }
    new_ids, changed_ids, remap_ids = [], [], []
    unchanged = 0
    for record_id, (_payload, digest) in latest.items():
        head = heads.get(record_id)
        if head is None:
            new_ids.append(record_id)
        elif head.content_hash != digest:
            changed_ids.append(record_id)
        elif head.mapping_hash != fingerprint or head.customer_record_id is None:
            remap_ids.append(record_id)
        else:
            unchanged += 1
    counts.read += len(batch)
    counts.new += len(new_ids)
    counts.changed += len(changed_ids)
    counts.remapped += len(remap_ids)
    counts.unchanged += unchanged
    counts.duplicates += duplicates
    to_map = [(rid, latest[rid][0], notes.get(rid, [])) for rid in new_ids + changed_ids + remap_ids]
    return _Batch(latest, heads, new_ids, changed_ids, remap_ids, to_map)


def _map_records(mapper: RecordMapper, layout: _Layout, items: list[MapItem]) -> tuple[list[Prepared], MapStats]:
    """Standardize records (and say what mapping found); a bug in mapping must not lose a record."""
    prepared: list[Prepared] = []
    for record_id, payload, notes in items:
        try:
            record = mapper.map(payload, record_id)
        except Exception as exc:
            record = MappedRecord(record_id=record_id, updated_at=None)
            record.quarantine.append(Quarantined("*", None, f"internal error: {type(exc).__name__}: {exc}"))
        record.quarantine[:0] = notes
        prepared.append(layout.prepare(record))
    return prepared, mapper.take_stats()


_WORKER_MAPPER: RecordMapper | None = None
_WORKER_LAYOUT: _Layout | None = None


def _init_worker(config: IntakeConfig, source: SourceConfig, dialect_name: str) -> None:
    global _WORKER_MAPPER, _WORKER_LAYOUT
    _WORKER_MAPPER = RecordMapper(config, source)
    _WORKER_LAYOUT = _layout(dialect_name, source.entity)


def _map_in_worker(items: list[MapItem]) -> tuple[list[Prepared], MapStats]:
    assert _WORKER_MAPPER is not None and _WORKER_LAYOUT is not None
    return _map_records(_WORKER_MAPPER, _WORKER_LAYOUT, items)


def _write_batch(
    engine: Engine,
    source: SourceConfig,
    fingerprint: str,
    run_id: int,
    plan: _Batch,
    counts: SyncCounts,
    stats: MapStats,
    at: datetime,
    *,
    first: Callable[[Connection], None] | None = None,
    last: Callable[[Connection], None] | None = None,
) -> dict[str, int]:
    """Write one planned batch in one transaction; returns the customer record id of each written record.

    `first` must write (it takes SQLite's write lock when there is no sync run to update); `last` runs
    inside the same transaction after the heads (a connector's cursor, tombstones).
    """
    if plan.future is not None:
        mapped, batch_stats = plan.future.result()
    else:
        assert plan.mapped is not None
        mapped, batch_stats = plan.mapped
    stats.merge(batch_stats)
    layout = _layout(engine.dialect.name, source.entity)
    now = layout.time(at)
    name = source.name
    latest, heads = plan.latest, plan.heads
    new_ids, changed_ids, remap_ids = plan.new_ids, plan.changed_ids, plan.remap_ids
    run_ref = run_id or None
    with engine.begin() as conn:
        # A write first: on SQLite this takes the database's write lock for the whole batch (see _allocate_ids).
        if first is not None:
            first(conn)
        else:
            conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(read=counts.read))

        # 1. Raw first: every new or changed version is kept exactly as read.
        raw_ids: dict[str, int] = {}
        stored = new_ids + changed_ids
        if stored:
            json = layout.json
            assert json is not None
            raw_rows = []
            for record_id, raw_id in zip(stored, _allocate_ids(conn, RAW, len(stored)), strict=True):
                payload, digest = latest[record_id]
                head = heads.get(record_id)
                version = (head.version + 1) if head else 1
                raw_rows.append((name, record_id, version, digest, json(payload), now, run_ref, raw_id))
                raw_ids[record_id] = raw_id
            insert_tuples(conn, RAW, RAW_INSERT, raw_rows)
        for record_id in remap_ids:
            raw_ids[record_id] = heads[record_id].raw_record_id

        # 2. Canonical rows.
        company_ids = _company_ids(conn, name, mapped)
        existing = {rid: heads[rid].customer_record_id for rid in changed_ids + remap_ids}
        rewritten = [cid for cid in existing.values() if cid is not None]
        if rewritten:
            _delete_canonical(conn, name, rewritten, [rid for rid, cid in existing.items() if cid])
        record_ids = _write_person_rows(conn, name, mapped, existing, company_ids, now)
        _write_identifiers(conn, name, mapped, record_ids)
        _write_entities(conn, name, layout, mapped, record_ids)
        counts.quarantined += _write_quarantine(conn, name, mapped, raw_ids, run_ref, now)

        # 3. Heads last: a crash before this point re-processes the batch next time.
        new_heads = [(name, rid, 1, latest[rid][1], fingerprint, raw_ids[rid], record_ids[rid]) for rid in new_ids]
        insert_tuples(conn, HEADS, HEAD_INSERT, new_heads)
        changed = set(changed_ids)
        moved = [
            {
                "_source": name,
                "_rid": rid,
                "version": heads[rid].version + (1 if rid in changed else 0),
                "content_hash": latest[rid][1],
                "mapping_hash": fingerprint,
                "raw_record_id": raw_ids[rid],
                "customer_record_id": record_ids[rid],
            }
            for rid in changed_ids + remap_ids
        ]
        if moved:
            conn.execute(
                update(HEADS)
                .where(HEADS.c.source == bindparam("_source"), HEADS.c.source_record_id == bindparam("_rid"))
                .values(
                    version=bindparam("version"),
                    content_hash=bindparam("content_hash"),
                    mapping_hash=bindparam("mapping_hash"),
                    raw_record_id=bindparam("raw_record_id"),
                    customer_record_id=bindparam("customer_record_id"),
                ),
                moved,
            )
        if last is not None:
            last(conn)
    return record_ids


def _company_ids(conn: Connection, source: str, records: list[Prepared]) -> dict[str, int]:
    names: dict[str, tuple[str, str | None]] = {}
    for record in records:
        company = record[2]
        if company is not None:
            names.setdefault(company[0], (company[1], company[2]))
    if not names:
        return {}
    found = {
        row.source_record_id: row.id
        for row in conn.execute(
            select(COMPANIES.c.id, COMPANIES.c.source_record_id).where(
                COMPANIES.c.source == source, COMPANIES.c.source_record_id.in_(list(names))
            )
        )
    }
    missing = [
        {
            "source": source,
            "source_record_id": key,
            "source_updated_at": None,
            "name": name,
            "normalized_name": key,
            "domain": domain,
        }
        for key, (name, domain) in names.items()
        if key not in found
    ]
    if missing:
        for row, company_id in zip(missing, _insert_with_ids(conn, COMPANIES, missing), strict=True):
            found[row["source_record_id"]] = company_id
    return found


def _delete_canonical(conn: Connection, source: str, record_ids: list[int], source_record_ids: list[str]) -> None:
    conn.execute(delete(IDENTIFIERS).where(IDENTIFIERS.c.record_id.in_(record_ids)))
    conn.execute(
        delete(ITEMS).where(ITEMS.c.order_id.in_(select(ORDERS.c.id).where(ORDERS.c.record_id.in_(record_ids))))
    )
    for table in ENTITY_TABLES.values():
        conn.execute(delete(table).where(table.c.record_id.in_(record_ids)))
    conn.execute(
        delete(QUARANTINE).where(QUARANTINE.c.source == source, QUARANTINE.c.source_record_id.in_(source_record_ids))
    )


def _write_person_rows(
    conn: Connection,
    source: str,
    mapped: list[Prepared],
    existing: dict[str, int | None],
    company_ids: dict[str, int],
    now: Any,
) -> dict[str, int]:
    ids: dict[str, int] = {}
    fresh = [record for record in mapped if existing.get(record[0]) is None]
    inserts = []
    for record, record_id in zip(fresh, _allocate_ids(conn, RECORDS, len(fresh)), strict=True):
        company = record[2]
        company_id = company_ids.get(company[0]) if company is not None else None
        inserts.append((*record[1], source, record[0], company_id, now, record_id))
        ids[record[0]] = record_id
    insert_tuples(conn, RECORDS, PERSON_INSERT, inserts)
    updates = []
    for record in mapped:
        existing_id = existing.get(record[0])
        if existing_id is None:
            continue
        company = record[2]
        company_id = company_ids.get(company[0]) if company is not None else None
        updates.append((*record[1], source, record[0], company_id, now, existing_id))
        ids[record[0]] = existing_id
    update_tuples(conn, RECORDS, PERSON_INSERT[:-1], "id", updates)
    return ids


def _write_identifiers(conn: Connection, source: str, mapped: list[Prepared], record_ids: dict[str, int]) -> None:
    rows = [
        (source, record[0], record_ids[record[0]], kind, value, record[3])
        for record in mapped
        for kind, value in record[4]
    ]
    insert_tuples(conn, IDENTIFIERS, IDENTIFIER_INSERT, rows)


def _write_entities(
    conn: Connection, source: str, layout: _Layout, mapped: list[Prepared], record_ids: dict[str, int]
) -> None:
    table = layout.entity_table
    if table is None:
        return
    columns = (*layout.entity_columns, *ENTITY_FIXED)
    rows = []
    entity_ids = _allocate_ids(conn, table, len(mapped))
    for record, entity_id in zip(mapped, entity_ids, strict=True):
        assert record[5] is not None
        rows.append((*record[5], source, record[0], record_ids[record[0]], record[3], entity_id))
    insert_tuples(conn, table, columns, rows)
    if table is not ORDERS:
        return
    items = [
        (order_id, source, record[0], record[3], *item)
        for record, order_id in zip(mapped, entity_ids, strict=True)
        for item in record[6]
    ]
    insert_tuples(conn, ITEMS, ITEM_INSERT, items)


def _write_quarantine(
    conn: Connection,
    source: str,
    mapped: list[Prepared],
    raw_ids: dict[str, int],
    run_id: int | None,
    now: Any,
) -> int:
    rows = [
        (source, record[0], field, raw_value, reason, raw_ids.get(record[0]), run_id, now)
        for record in mapped
        for field, raw_value, reason in record[7]
    ]
    insert_tuples(conn, QUARANTINE, QUARANTINE_INSERT, rows)
    return len(rows)


# ------------------------------------------------------------------------------------------ connectors


def load_cursor(*, engine: Engine, source: str) -> dict[str, Any] | None:
    """The committed cursor of a connector stream (None: the next pull starts from the beginning)."""
    with engine.connect() as conn:
        value = conn.execute(select(CURSORS.c.cursor).where(CURSORS.c.source == source)).scalar()
    return dict(value) if isinstance(value, dict) else None


def reset_cursor(*, engine: Engine, source: str) -> None:
    """Forget a stream's cursor: its next pull lists everything again."""
    with engine.begin() as conn:
        conn.execute(delete(CURSORS).where(CURSORS.c.source == source))


def _save_cursor(conn: Connection, source: str, cursor: dict[str, Any], at: datetime) -> None:
    updated = conn.execute(
        update(CURSORS).where(CURSORS.c.source == source).values(cursor=cursor, updated_at=at)
    ).rowcount
    if not updated:
        conn.execute(insert(CURSORS).values(source=source, cursor=cursor, updated_at=at))


def _prefetch(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """Read the next pages on a thread while this one writes (network and database overlap)."""
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                queue.put(("page", page))
            queue.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it in the sync's thread
            queue.put(("error", exc))

    thread = threading.Thread(target=produce, name="connector-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)


def _sync_pages(
    engine: Engine,
    source: SourceConfig,
    reader: Connector,
    mapper: RecordMapper,
    fingerprint: str,
    run_id: int,
    counts: SyncCounts,
    stats: MapStats,
    clock: Clock,
    on_progress: ProgressCallback | None,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Pull a connector stream page by page; each batch commits with the cursor of its last page and its tombstones."""
    cursor = load_cursor(engine=engine, source=source.name)
    layout = _layout(engine.dialect.name, source.entity)
    buffer: list[SourcePayload] = []
    deleted: list[str] = []
    pending_cursor: dict[str, Any] | None = None

    def flush() -> None:
        nonlocal buffer, deleted, pending_cursor
        if not buffer and not deleted and pending_cursor is None:
            return
        items, gone, to_commit = _last_wins(mapper, buffer), deleted, pending_cursor
        buffer, deleted, pending_cursor = [], [], None
        apply_batch(
            engine,
            source,
            mapper,
            fingerprint,
            layout,
            items,
            gone,
            counts,
            stats,
            clock(),
            run_id=run_id,
            cursor=to_commit,
        )

    try:
        for page in _prefetch(reader.pages(cursor)):
            buffer.extend(SourcePayload(record, None) for record in page.records)
            deleted.extend(page.deleted)
            if page.cursor is not None:
                pending_cursor = page.cursor
            if len(buffer) >= batch_size or deleted:
                flush()
            if on_progress:
                done, total = reader.progress()
                on_progress(source.name, done, total, counts.read)
        flush()
    except ContextError:
        flush()  # what was read before the failure is stored; its cursor too, so the next pull resumes there
        raise
    except (ValueError, KeyError, TypeError, httpx.HTTPError) as exc:
        raise ConnectorError(source.name, f"unexpected answer from the vendor: {type(exc).__name__}: {exc}") from exc
    if on_progress:
        done, total = reader.progress()
        on_progress(source.name, done, total if total is not None else done, counts.read)


def _last_wins(mapper: RecordMapper, items: list[SourcePayload]) -> list[SourcePayload]:
    """Within a pull a record listed twice changed in between: keep its later version."""
    by_id: dict[Any, SourcePayload] = {}
    for item in items:
        by_id.pop(key := (mapper.record_id(item.payload) or id(item)), None)
        by_id[key] = item
    return list(by_id.values())


@dataclass(slots=True)
class Applied:
    """What one applied batch touched, so the caller can resolve and recompute just those customers."""

    record_ids: list[int]
    previous_customers: set[str]


def apply_batch(
    engine: Engine,
    source: SourceConfig,
    mapper: RecordMapper,
    fingerprint: str,
    layout: _Layout,
    items: list[SourcePayload],
    deleted: list[str],
    counts: SyncCounts,
    stats: MapStats,
    at: datetime,
    *,
    run_id: int | None = None,
    cursor: dict[str, Any] | None = None,
    first: Callable[[Connection], None] | None = None,
) -> Applied:
    """Store records and tombstones of one source in one transaction (with the cursor, when given)."""
    plan = _plan_batch(engine, mapper, fingerprint, source, items, counts, set())
    plan.mapped = _map_records(mapper, layout, plan.to_map)
    previous: set[str] = set()
    before = [plan.heads[r].customer_record_id for r in plan.changed_ids + plan.remap_ids if r in plan.heads]

    def last(conn: Connection) -> None:
        previous.update(_tombstone(conn, source.name, deleted, run_id, at, counts))
        if cursor is not None:
            _save_cursor(conn, source.name, cursor, at)

    def begin(conn: Connection) -> None:
        if first is not None:
            first(conn)
        elif run_id is not None:
            conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(read=counts.read))
        if before:
            previous.update(
                c
                for c in conn.execute(
                    select(RECORDS.c.customer_id).where(RECORDS.c.id.in_([b for b in before if b is not None]))
                ).scalars()
                if c
            )

    written = _write_batch(engine, source, fingerprint, run_id or 0, plan, counts, stats, at, first=begin, last=last)
    return Applied(record_ids=list(written.values()), previous_customers=previous)


def _tombstone(
    conn: Connection, source: str, record_ids: list[str], run_id: int | None, now: datetime, counts: SyncCounts
) -> set[str]:
    """Deleted at the vendor: a tombstone raw version, canonical rows removed; returns the customers affected."""
    if not record_ids:
        return set()
    heads = {
        row.source_record_id: row
        for row in conn.execute(select(HEADS).where(HEADS.c.source == source, HEADS.c.source_record_id.in_(record_ids)))
    }
    alive = {rid: head for rid, head in heads.items() if head.customer_record_id is not None}
    if not alive:
        return set()
    record_pks = [head.customer_record_id for head in alive.values()]
    customers = {
        c for c in conn.execute(select(RECORDS.c.customer_id).where(RECORDS.c.id.in_(record_pks))).scalars() if c
    }
    raw_ids = _allocate_ids(conn, RAW, len(alive))
    rows = []
    for (rid, head), raw_id in zip(alive.items(), raw_ids, strict=True):
        payload = {"id": rid, "deleted": True}
        rows.append(
            {
                "id": raw_id,
                "source": source,
                "source_record_id": rid,
                "version": head.version + 1,
                "content_hash": content_hash(payload),
                "payload": payload,
                "fetched_at": now,
                "sync_run_id": run_id,
                "deleted": True,
            }
        )
    conn.execute(insert(RAW), rows)
    conn.execute(
        update(HEADS)
        .where(HEADS.c.source == source, HEADS.c.source_record_id == bindparam("_rid"))
        .values(
            version=bindparam("version"),
            content_hash=bindparam("content_hash"),
            raw_record_id=bindparam("raw_record_id"),
            customer_record_id=None,
        ),
        [
            {
                "_rid": r["source_record_id"],
                "version": r["version"],
                "content_hash": r["content_hash"],
                "raw_record_id": r["id"],
            }
            for r in rows
        ],
    )
    # Heads no longer point at the records, so they can go (with identity's block keys of them).
    _delete_canonical(conn, source, record_pks, list(alive))
    conn.execute(delete(BLOCK_KEYS).where(BLOCK_KEYS.c.record_id.in_(record_pks)))
    conn.execute(delete(RECORDS).where(RECORDS.c.id.in_(record_pks)))
    counts.deleted += len(alive)
    return customers


class RecordWriter:
    """Stores records of one source that arrive outside a sync (webhooks, pushes), mapping compiled once."""

    def __init__(self, config: IntakeConfig, source: SourceConfig, dialect_name: str) -> None:
        self.config = config
        self.source = source
        self.mapper = RecordMapper(config, source)
        self.fingerprint = mapping_fingerprint(config, source)
        self.layout = _layout(dialect_name, source.entity)

    def record_id(self, payload: dict[str, Any]) -> str | None:
        """The id the mapping reads from a payload."""
        return self.mapper.record_id(payload)

    def apply(
        self,
        *,
        engine: Engine,
        payloads: Sequence[dict[str, Any]],
        deleted: Sequence[str] = (),
        at: datetime,
        first: Callable[[Connection], None] | None = None,
    ) -> Applied:
        """Store records and tombstones exactly as a sync would, in one transaction.

        `first` runs first inside the transaction (e.g. marking the webhook applied, so both commit together).
        """
        items = _last_wins(self.mapper, [SourcePayload(dict(p), None) for p in payloads])
        self.mapper.take_stats()  # only a sync reports fill rates
        return apply_batch(
            engine,
            self.source,
            self.mapper,
            self.fingerprint,
            self.layout,
            items,
            list(deleted),
            SyncCounts(),
            MapStats(),
            at,
            first=first,
        )


def stored_as_of(*, engine: Engine, source: str, record_id: str) -> datetime | None:
    """When the stored version of a record was fetched (None if there is none)."""
    with engine.connect() as conn:
        value = conn.execute(
            select(RAW.c.fetched_at)
            .select_from(HEADS.join(RAW, RAW.c.id == HEADS.c.raw_record_id))
            .where(HEADS.c.source == source, HEADS.c.source_record_id == record_id)
        ).scalar()
    return value if isinstance(value, datetime) else None


# Reading the quarantine lives in its own light module (CLI start-up); re-exported here for callers.
from context.intake.quarantine import list_quarantine, quarantine_counts  # noqa: E402

__all__ = ["list_quarantine", "quarantine_counts", "sync", "sync_source"]
