"""Sync: read sources, store raw records, standardize into canonical rows, quarantine what fails.

Idempotent by content hash: an unchanged record costs one indexed lookup and writes nothing; a changed
record appends a raw version and rewrites only its own canonical rows (keeping the customer record id
that identity resolution points at).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from queue import Empty, Queue
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from context.dbtypes import Clock
from context.errors import ConnectorError, ContextError
from context.gcpause import cyclic_gc_paused
from context.intake.batching import Batch, Pipeline, map_records, plan_batch
from context.intake.check import configured_statuses, fill_rates, mapping_warnings
from context.intake.config import IntakeConfig, SourceConfig
from context.intake.connectors import Connections, Connector, Page, open_connector
from context.intake.mapping import MapStats, RecordMapper
from context.intake.models import (
    SourceSummary,
    SyncCounts,
)
from context.intake.rows import (
    CURSORS,
    HEADS,
    RAW,
    RECORDS,
    RUNS,
    Layout,
    layout_for,
)
from context.intake.sources import Source, SourcePayload, open_source
from context.intake.writes import (
    write_batch,
    write_tombstones,
)

BATCH_SIZE = 2000


# (source name, work done, total work or None, records read so far)
ProgressCallback = Callable[[str, int, int | None, int], None]


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


#: Source settings that change how records are read, not how they are standardized.
_READING_ONLY = {"path", "encoding", "delimiter", "records", "url", "pagination"}


def mapping_fingerprint(config: IntakeConfig, source: SourceConfig) -> str:
    """A hash of everything that affects how this source's records are standardized."""
    relevant = {
        "source": source.model_dump(mode="json", exclude=_READING_ONLY),
        "maps": config.value_maps,
        "nulls": sorted(config.null_values),
        "region": config.default_region,
        "tz": config.timezone,
    }
    return hashlib.blake2b(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@cyclic_gc_paused()
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
    this one writes earlier batches to the database; `workers=0` does everything inline. The cyclic garbage
    collector is paused meanwhile (`context.gcpause`): batches in flight are thousands of parsed payloads and
    prepared rows, and every collection walked them all again (a third of a pull's CPU in this process).
    """
    started = time.perf_counter()
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(RUNS).values(source=source.name, started_at=clock(), status="running").returning(RUNS.c.id)
        ).scalar_one()
    counts = SyncCounts()
    stats = MapStats()
    status, error = "ok", None
    reader: Source | None = None
    try:
        reader = open_reader(config, source, connections)
        mapper = RecordMapper(config, source)
        fingerprint = mapping_fingerprint(config, source)
        if isinstance(reader, Connector):
            _sync_pages(
                engine,
                config,
                source,
                reader,
                mapper,
                fingerprint,
                run_id,
                counts,
                stats,
                clock,
                on_progress,
                workers,
                batch_size,
            )
        else:
            # Ids are unique across batches (see `seen`), so batches in flight never touch the same record.
            seen: set[int] = set()
            batch: list[SourcePayload] = []

            def write(plan: Batch, _extra: None) -> None:
                write_batch(engine, source, fingerprint, run_id, plan, counts, stats, clock())

            with Pipeline(
                config=config,
                source=source,
                dialect_name=engine.dialect.name,
                mapper=mapper,
                workers=workers,
                write=write,
            ) as pipeline:

                def handle(items: list[SourcePayload]) -> None:
                    plan = plan_batch(engine, mapper, fingerprint, source, items, counts, seen)
                    if plan.to_map:
                        pipeline.add(plan, None)

                try:
                    for item in reader.read():
                        batch.append(item)
                        if len(batch) >= batch_size:
                            # Taken before it is handled: after a failed write the handler below must not redo it.
                            full, batch = batch, []
                            handle(full)
                            if on_progress:
                                done, total = reader.progress()
                                on_progress(source.name, done, total, counts.read)
                    if batch:
                        full, batch = batch, []
                        handle(full)
                except ContextError:
                    # A malformed line stops the source, but every good record read before it is still stored.
                    if batch:
                        handle(batch)
                    pipeline.drain()
                    raise
                pipeline.drain()
            if on_progress:
                done, total = reader.progress()
                on_progress(source.name, total or done, total, counts.read)
    except ContextError as exc:
        status, error = "failed", str(exc)
    finally:
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
    config: IntakeConfig,
    source: SourceConfig,
    reader: Connector,
    mapper: RecordMapper,
    fingerprint: str,
    run_id: int,
    counts: SyncCounts,
    stats: MapStats,
    clock: Clock,
    on_progress: ProgressCallback | None,
    workers: int = 1,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Pull a connector stream page by page; each batch commits with the cursor of its last page and its tombstones.

    With `workers=N` a stream bigger than one batch is standardized in N other processes while this one reads
    the next pages and writes earlier batches, in order (each batch's cursor commits only with its records).
    """
    cursor = load_cursor(engine=engine, source=source.name)
    buffer: list[SourcePayload] = []
    deleted: list[str] = []
    pending_cursor: dict[str, Any] | None = None

    def write(plan: Batch, extra: _PageBatch) -> None:
        gone, to_commit, _ids = extra
        at = clock()

        def last(conn: Connection) -> None:
            write_tombstones(conn, source.name, gone, run_id, at, counts)
            if to_commit is not None:
                _save_cursor(conn, source.name, to_commit, at)

        write_batch(engine, source, fingerprint, run_id, plan, counts, stats, at, last=last)

    # Later batches carry later cursors: the pipeline writes them in order and none past one that failed.
    pipeline: Pipeline[_PageBatch] = Pipeline(
        config=config,
        source=source,
        dialect_name=engine.dialect.name,
        mapper=mapper,
        workers=workers,
        write=write,
    )

    def flush() -> None:
        nonlocal buffer, deleted, pending_cursor
        if not buffer and not deleted and pending_cursor is None:
            return
        items, gone, to_commit = _last_wins(mapper, buffer), deleted, pending_cursor
        buffer, deleted, pending_cursor = [], [], None
        ids = {rid for item in items if (rid := mapper.record_id(item.payload)) is not None} | set(gone)
        # A record changed again during the pull (or deleted) is planned against heads its earlier batch writes.
        while pipeline.pending and any(not ids.isdisjoint(extra[2]) for _plan, extra in pipeline.pending):
            pipeline.write_next()
        if pipeline.broken:
            return
        plan = plan_batch(engine, mapper, fingerprint, source, items, counts, set())
        pipeline.add(plan, (gone, to_commit, ids))

    with pipeline:
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
            pipeline.drain()
        except ContextError:
            # What was read before the failure is stored; its cursor too, so the next pull resumes there (after a
            # failed write the pipeline is broken and the buffer was taken: nothing more is written).
            flush()
            pipeline.drain()
            raise
        except (ValueError, KeyError, TypeError, httpx.HTTPError) as exc:
            raise ConnectorError(
                source.name, f"unexpected answer from the vendor: {type(exc).__name__}: {exc}"
            ) from exc
    if on_progress:
        done, total = reader.progress()
        on_progress(source.name, done, total if total is not None else done, counts.read)


#: What a connector batch writes beside its records: tombstones, the cursor it commits, the ids it touches.
_PageBatch = tuple[list[str], dict[str, Any] | None, set[str]]


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
    #: The counters after this batch (a sync passes its running totals; `RecordWriter.apply` a fresh set).
    counts: SyncCounts = field(default_factory=SyncCounts)
    #: Every value quarantined by this batch: (record id, field, reason).
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)


def apply_batch(
    engine: Engine,
    source: SourceConfig,
    mapper: RecordMapper,
    fingerprint: str,
    layout: Layout,
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
    plan = plan_batch(engine, mapper, fingerprint, source, items, counts, set())
    plan.mapped = map_records(mapper, layout, plan.to_map)
    previous: set[str] = set()
    before = [plan.heads[r].customer_record_id for r in plan.changed_ids + plan.remap_ids if r in plan.heads]

    def last(conn: Connection) -> None:
        previous.update(write_tombstones(conn, source.name, deleted, run_id, at, counts))
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

    written = write_batch(engine, source, fingerprint, run_id or 0, plan, counts, stats, at, first=begin, last=last)
    quarantined = [(record[0], name, reason) for record in plan.mapped[0] for name, _raw, reason in record[7]]
    return Applied(
        record_ids=list(written.values()), previous_customers=previous, counts=counts, quarantined=quarantined
    )


class RecordWriter:
    """Stores records of one source that arrive outside a sync (webhooks, pushes), mapping compiled once."""

    def __init__(self, config: IntakeConfig, source: SourceConfig, dialect_name: str) -> None:
        self.config = config
        self.source = source
        self.mapper = RecordMapper(config, source)
        self.fingerprint = mapping_fingerprint(config, source)
        self.layout = layout_for(dialect_name, source.entity)

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
