"""Batches of a sync: classify records against their heads (new, changed, remapped, unchanged) and standardize
them (inline or in worker processes) into prepared rows.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.intake.config import IntakeConfig, SourceConfig
from context.intake.mapping import MappedRecord, MapStats, Quarantined, RecordMapper, content_hash
from context.intake.models import (
    SyncCounts,
)
from context.intake.rows import (
    HEADS,
    Layout,
    MapItem,
    Prepared,
    layout_for,
)
from context.intake.sources import SourcePayload


@dataclass(slots=True)
class Batch:
    """A batch read and classified against the record heads, waiting to be written."""

    latest: dict[str, tuple[dict[str, Any], str]]
    heads: dict[str, Any]
    new_ids: list[str]
    changed_ids: list[str]
    remap_ids: list[str]
    to_map: list[MapItem]
    mapped: tuple[list[Prepared], MapStats] | None = None
    future: Future[tuple[list[Prepared], MapStats]] | None = None


def plan_batch(
    engine: Engine,
    mapper: RecordMapper,
    fingerprint: str,
    source: SourceConfig,
    batch: list[SourcePayload],
    counts: SyncCounts,
    seen: set[int],
) -> Batch:
    """Classify a batch against the stored heads (first occurrence of an id wins) and count it."""
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
    return Batch(latest, heads, new_ids, changed_ids, remap_ids, to_map)


def map_records(mapper: RecordMapper, layout: Layout, items: list[MapItem]) -> tuple[list[Prepared], MapStats]:
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


_WORKER_LAYOUT: Layout | None = None


def init_worker(config: IntakeConfig, source: SourceConfig, dialect_name: str) -> None:
    """Set up a standardization worker process: the mapping compiled once per process."""
    global _WORKER_MAPPER, _WORKER_LAYOUT
    _WORKER_MAPPER = RecordMapper(config, source)
    _WORKER_LAYOUT = layout_for(dialect_name, source.entity)


def map_in_worker(items: list[MapItem]) -> tuple[list[Prepared], MapStats]:
    """Standardize records in a worker process (see `init_worker`)."""
    assert _WORKER_MAPPER is not None and _WORKER_LAYOUT is not None
    return map_records(_WORKER_MAPPER, _WORKER_LAYOUT, items)


T = TypeVar("T")


class Pipeline(Generic[T]):
    """Planned batches not yet written, oldest first, each standardized by a worker, by this process, or waiting.

    At most `workers + 1` batches are with the workers, so each has the next one queued; when the oldest is not
    ready and the newest still waits, this process standardizes that one itself instead of waiting, which
    balances the cores by itself. Batches are written in order by `write(plan, extra)`; a failed write drops
    every later batch (nothing commits past it) and the pipeline takes no more. The worker pool starts with
    the second batch (a source of one batch is not worth a second process); `workers=0` does all inline.
    """

    def __init__(
        self,
        *,
        config: IntakeConfig,
        source: SourceConfig,
        dialect_name: str,
        mapper: RecordMapper,
        workers: int,
        write: Callable[[Batch, T], None],
    ) -> None:
        self.config, self.source, self.dialect_name = config, source, dialect_name
        self.mapper, self.layout = mapper, layout_for(dialect_name, source.entity)
        self.workers, self.write = workers, write
        #: (plan, what the writer needs beside it), oldest first.
        self.pending: deque[tuple[Batch, T]] = deque()
        self.pool: ProcessPoolExecutor | None = None
        self.batches = 0
        self.broken = False

    def __enter__(self) -> Pipeline[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (batches not written are dropped)."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def add(self, plan: Batch, extra: T) -> None:
        """Queue a planned batch; writes the oldest ones while more are in flight than the workers can hold."""
        if self.broken:
            return
        self.batches += 1
        if self.workers > 0 and self.pool is None and self.batches > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=init_worker,
                initargs=(self.config, self.source, self.dialect_name),
            )
        if self.workers == 0 or not plan.to_map:
            plan.mapped = map_records(self.mapper, self.layout, plan.to_map)
        # else: submitted below when a worker has room (the first batch waits to see if one is worth it).
        self.pending.append((plan, extra))
        self._submit_waiting()
        while len(self.pending) > self.workers + 1 or (self.pending and self.workers == 0):
            self.write_next()

    def write_next(self) -> None:
        """Write the oldest batch (standardizing the newest meanwhile when the workers are behind)."""
        pending = self.pending
        oldest = pending[0][0]
        newest = pending[-1][0]
        if oldest.future is not None and not oldest.future.done() and len(pending) > 1 and _waiting(newest):
            # The workers are behind and this process would only wait: it standardizes the newest batch itself
            # (so the workers keep theirs).
            newest.mapped = map_records(self.mapper, self.layout, newest.to_map)
        plan, extra = pending.popleft()
        try:
            if _waiting(plan):  # a first batch that never got a worker
                plan.mapped = map_records(self.mapper, self.layout, plan.to_map)
            self.write(plan, extra)
        except BaseException:
            # Later batches may depend on this one (a cursor past it, heads it writes): none may be written.
            self.broken = True
            for later, _extra in pending:
                if later.future is not None:
                    later.future.cancel()
            pending.clear()
            raise
        self._submit_waiting()

    def drain(self) -> None:
        """Write every queued batch, in order."""
        while self.pending:
            self.write_next()

    def _submit_waiting(self) -> None:
        if self.pool is None:
            return
        busy = sum(1 for plan, _ in self.pending if plan.future is not None and not plan.future.done())
        for plan, _extra in self.pending:
            if busy > self.workers:
                return
            if _waiting(plan):
                plan.future = self.pool.submit(map_in_worker, plan.to_map)
                busy += 1


def _waiting(plan: Batch) -> bool:
    """Neither standardized nor with a worker."""
    return plan.mapped is None and plan.future is None
