"""Batches of a sync: classify records against their heads (new, changed, remapped, unchanged) and standardize
them (inline or in worker processes) into prepared rows.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

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
