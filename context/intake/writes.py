"""Writing a planned batch in one transaction (raw versions, heads, canonical rows, identifiers, quarantine), and
tombstones for records deleted at the vendor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from context.bulkwrite import insert_tuples, update_tuples
from context.intake.batching import Batch
from context.intake.config import SourceConfig
from context.intake.mapping import MapStats, content_hash
from context.intake.models import (
    SyncCounts,
)
from context.intake.rows import (
    BLOCK_KEYS,
    COMPANIES,
    ENTITY_FIXED,
    ENTITY_TABLES,
    HEAD_INSERT,
    HEADS,
    IDENTIFIER_INSERT,
    IDENTIFIERS,
    ITEM_INSERT,
    ITEMS,
    ORDERS,
    PERSON_INSERT,
    QUARANTINE,
    QUARANTINE_INSERT,
    RAW,
    RAW_INSERT,
    RECORDS,
    RUNS,
    Layout,
    Prepared,
    allocate_ids,
    insert_with_ids,
    layout_for,
)


def write_batch(
    engine: Engine,
    source: SourceConfig,
    fingerprint: str,
    run_id: int,
    plan: Batch,
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
    layout = layout_for(engine.dialect.name, source.entity)
    now = layout.time(at)
    name = source.name
    latest, heads = plan.latest, plan.heads
    new_ids, changed_ids, remap_ids = plan.new_ids, plan.changed_ids, plan.remap_ids
    run_ref = run_id or None
    with engine.begin() as conn:
        # A write first: on SQLite this takes the database's write lock for the whole batch (see allocate_ids).
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
            for record_id, raw_id in zip(stored, allocate_ids(conn, RAW, len(stored)), strict=True):
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
            delete_canonical(conn, name, rewritten, [rid for rid, cid in existing.items() if cid])
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
        for row, company_id in zip(missing, insert_with_ids(conn, COMPANIES, missing), strict=True):
            found[row["source_record_id"]] = company_id
    return found


def delete_canonical(conn: Connection, source: str, record_ids: list[int], source_record_ids: list[str]) -> None:
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
    for record, record_id in zip(fresh, allocate_ids(conn, RECORDS, len(fresh)), strict=True):
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
    conn: Connection, source: str, layout: Layout, mapped: list[Prepared], record_ids: dict[str, int]
) -> None:
    table = layout.entity_table
    if table is None:
        return
    columns = (*layout.entity_columns, *ENTITY_FIXED)
    rows = []
    entity_ids = allocate_ids(conn, table, len(mapped))
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


def write_tombstones(
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
    raw_ids = allocate_ids(conn, RAW, len(alive))
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
    delete_canonical(conn, source, record_pks, list(alive))
    conn.execute(delete(BLOCK_KEYS).where(BLOCK_KEYS.c.record_id.in_(record_pks)))
    conn.execute(delete(RECORDS).where(RECORDS.c.id.in_(record_pks)))
    counts.deleted += len(alive)
    return customers
