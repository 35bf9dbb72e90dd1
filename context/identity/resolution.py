"""Layer 2: identity resolution on the database — graph, stable ids, review queue, constraints, action log.

Incremental resolution finds the *candidate closure* of the changed records — every record reachable
through a shared identifier value, a blocking key with a score at or above the review threshold, a
manual link, or current membership of the same customer — and re-clusters that closure with the pure
`graph.resolve()`. A closure is a union of whole candidate components, and `resolve()` decides each
component independently of arrival order, so the incremental path gives the same clusters as a full
`rebuild()` and as any other arrival order.

Stable ids: each resulting cluster takes an existing customer id by this rule — previous ids, oldest
first (created_at, then id), each claim the cluster holding most of their records (ties: the cluster
with the smallest record key) unless another older id claimed it already. So a merge keeps the older id
(the absorbed id becomes an alias) and a split leaves the id on the larger side; clusters left without
an id get a new one.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from context.bulkwrite import bulk_insert, column_converters, indexes_deferred, insert_tuples, update_tuples
from context.canonical.models import PERSON_FIELDS, Customer, CustomerRecord
from context.dbtypes import table_of
from context.errors import CustomerNotFoundError
from context.gcpause import cyclic_gc_paused
from context.identity.errors import UnknownRecordError
from context.identity.graph import (
    Edge,
    Prepared,
    Record,
    Resolution,
    normalize_identifier,
    prepare,
    resolve,
)
from context.identity.models import (
    BlockKey,
    CustomerAlias,
    IdentityAction,
    IdentityEdge,
    IdentityReview,
    IdentityState,
    ResolveSummary,
)
from context.identity.rules import IdentityRules
from context.identity.scoring import FSModel, fast_probability, prior_model
from context.identity.splink_model import fit_model
from context.identity.sql import (
    CHUNK,
    _chunks,
    _db_time,
    _execute,
    _ids_for_keys,
    _json_value,
    _marks,
    _rows,
    _utc,
)

HOLDER_CAP = 1000  # an identifier value on more records than this is a hub without looking further


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


# --------------------------------------------------------------------------------------------- state


def _log(session: Session, action: str, actor: str, payload: dict[str, Any], now: datetime) -> IdentityAction:
    row = IdentityAction(action=action, actor=actor, payload=payload, created_at=now)
    session.add(row)
    session.flush()
    return row


def _log_run(session: Session, action: str, actor: str, payload: dict[str, Any], now: datetime) -> None:
    """Log a resolve or rebuild run: one plain insert (no one needs its id; the ORM row cost ~0.7 ms a call)."""
    row = {"action": action, "actor": actor, "payload": payload, "created_at": now, "undone_at": None}
    bulk_insert(session.connection(), table_of(IdentityAction), [row])


def _get_state(session: Session, key: str) -> dict[str, Any] | None:
    # Plain SQL: every incremental resolution reads the watermark, and an ORM get costs more than the query.
    found = _rows(session, "SELECT value FROM identity_state WHERE key = ?", [key])
    if not found:
        return None
    return dict(_json_value(found[0][0]))


def _set_state(session: Session, key: str, value: dict[str, Any], now: datetime) -> None:
    conn = session.connection()
    table = table_of(IdentityState)
    to_json, to_time = column_converters(table, ["value", "updated_at"], conn.dialect.name)
    stored = (
        value if to_json is None else to_json(value),
        now if to_time is None else to_time(now),
        key,
    )
    if _execute(session, "UPDATE identity_state SET value = ?, updated_at = ? WHERE key = ?", stored) == 0:
        insert_tuples(conn, table, ["value", "updated_at", "key"], [stored])


def _set_watermark(session: Session, latest: datetime, now: datetime) -> None:
    """Remember the newest synced_at resolved, and which records carry exactly that instant."""
    sql = "SELECT id FROM customer_records WHERE synced_at = ?"
    at_mark = [i for (i,) in _rows(session, sql, [_db_time(session, CustomerRecord, "synced_at", latest)])]
    _set_state(session, "watermark", {"synced_at": latest.isoformat(), "ids": sorted(i for i in at_mark if i)}, now)


# Parsed models by (database, stored time): validating the term-frequency tables costs milliseconds,
# which an incremental resolution of one record cannot afford on every call.
_MODEL_CACHE: dict[tuple[str, str], FSModel] = {}


def load_model(*, engine: Engine, rules: IdentityRules) -> FSModel:
    """The stored fitted model, or the documented priors when none was trained (or the fields changed)."""
    with Session(engine) as session:
        return _stored_model(session, rules)


def _stored_model(session: Session, rules: IdentityRules) -> FSModel:
    # Plain SQL: this runs on every incremental resolution, and the ORM statement costs more than the query.
    found = _rows(session, "SELECT updated_at FROM identity_state WHERE key = ?", ["model"])
    model = None
    if found:
        cache_key = (str(session.connection().engine.url), str(found[0][0]))
        model = _MODEL_CACHE.get(cache_key)
        if model is None:
            data = _get_state(session, "model")
            model = FSModel.model_validate(data)
            _MODEL_CACHE.clear()
            _MODEL_CACHE[cache_key] = model
    if model is not None and _fits(model, rules):
        return model
    return prior_model(rules)


def _fits(model: FSModel, rules: IdentityRules) -> bool:
    """Whether a stored model has exactly the rules' fields and levels (older models had fewer levels)."""
    fields = {f.name: f for f in rules.probabilistic.fields}
    if set(model.fields) != set(fields):
        return False
    return all(len(p.m) == len(p.u) == fields[name].n_levels for name, p in model.fields.items())


def train(*, engine: Engine, rules: IdentityRules, now: datetime, use_splink: bool = True) -> FSModel:
    """Fit term frequencies (and Splink m/u when there is enough data) on all records and store the model."""
    with Session(engine) as session:
        model = _train_on(session, list(_load_prepared(session, None, rules).values()), rules, now, use_splink)
        session.commit()
    return model


def _train_on(
    session: Session, prepared: list[Prepared], rules: IdentityRules, now: datetime, use_splink: bool = True
) -> FSModel:
    model = fit_model(prepared, rules, train=use_splink)
    _set_state(session, "model", model.model_dump(mode="json"), now)
    return model


# ----------------------------------------------------------------------------------------- records


def _load_prepared(session: Session, ids: Iterable[int | None] | None, rules: IdentityRules) -> dict[int, Prepared]:
    """Prepared records by customer_records.id (`ids=None`: every record, read in one pass)."""
    out: dict[int, Prepared] = {}
    attr_of = {r.kind: r.attribute for r in rules.identifiers}
    records = table_of(CustomerRecord)
    columns = [records.c.id, records.c.source, records.c.source_record_id, records.c.source_updated_at]
    columns += [records.c[f] for f in PERSON_FIELDS]
    # Plain column tuples through the driver, not ORM objects: loading is the largest cost of a rebuild.
    conn = session.connection()
    batches: Iterable[list[int] | None] = [None] if ids is None else _chunks(sorted({i for i in ids if i is not None}))
    # A full load (rebuild, training) reads every record once: caching it would only hold memory.
    cache = None if ids is None else _prepared_cache(rules)
    rec_sql = f"SELECT {', '.join(c.name for c in columns)} FROM customer_records"
    id_sql = "SELECT record_id, kind, value FROM identifiers"
    for batch1 in batches:
        if batch1 is None:
            rec_rows = conn.exec_driver_sql(rec_sql).fetchall()
            id_rows = conn.exec_driver_sql(id_sql).fetchall()
        else:
            rec_rows = _rows(session, f"{rec_sql} WHERE id IN ({_marks(len(batch1))})", batch1)
            id_rows = _rows(session, f"{id_sql} WHERE record_id IN ({_marks(len(batch1))})", batch1)
        idents: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for rid, kind, value in id_rows:
            idents[rid][kind].append(value)
        for row in rec_rows:
            if cache is not None:
                # The same row and identifiers as last time give the same Prepared: an incremental run reads
                # the few hundred records of its blocks on every call, and preparing them is most of its cost.
                signature = (
                    tuple(row),
                    tuple(sorted((k, tuple(sorted(v))) for k, v in idents.get(row[0], {}).items())),
                )
                hit = cache.get(row[0])
                if hit is not None and hit[0] == signature:
                    out[row[0]] = hit[1]
                    continue
            attrs: dict[str, Any] = dict(zip(PERSON_FIELDS, row[4:], strict=True))
            for kind, values in idents.get(row[0], {}).items():
                attr = attr_of.get(kind, kind)
                primary = attrs.get(attr)
                attrs[attr] = ([primary] if primary else []) + sorted(v for v in values if v != primary)
            updated = row[3]
            if isinstance(updated, str):  # raw SQLite text (UTC): the same value SQLAlchemy would return
                updated = _utc(updated)
            out[row[0]] = prepared = prepare(Record(row[1], row[2], attrs, updated), rules)
            if cache is not None:
                if len(cache) >= PREPARED_CACHE_SIZE:
                    cache.clear()
                cache[row[0]] = (signature, prepared)
    return out


# Prepared records of the incremental path, per rules object (kept in the value so its id stays unique).
PREPARED_CACHE_SIZE = 200_000
_PREPARED: dict[int, tuple[IdentityRules, dict[int, tuple[Any, Prepared]]]] = {}


def _prepared_cache(rules: IdentityRules) -> dict[int, tuple[Any, Prepared]]:
    hit = _PREPARED.get(id(rules))
    if hit is None or hit[0] is not rules:
        if len(_PREPARED) > 8:
            _PREPARED.clear()
        hit = _PREPARED[id(rules)] = (rules, {})
    return hit[1]


def _require_keys(session: Session, keys: Sequence[str]) -> dict[str, int]:
    found = _ids_for_keys(session, keys)
    for key in keys:
        if key not in found:
            raise UnknownRecordError(key)
    return found


def _canonical(session: Session, customer_id: str) -> str:
    if session.get(Customer, customer_id) is not None:
        return customer_id
    alias = session.get(CustomerAlias, customer_id)
    if alias is not None and session.get(Customer, alias.customer_id) is not None:
        return alias.customer_id
    raise CustomerNotFoundError(customer_id)


def _customer_record_ids(session: Session, customer_id: str) -> list[int | None]:
    return list(session.exec(select(col(CustomerRecord.id)).where(CustomerRecord.customer_id == customer_id)))


# -------------------------------------------------------------------------------------- resolution


@dataclass
class _Closure:
    prepared: dict[int, Prepared]
    known_hubs: set[tuple[str, str]]
    oversized: set[str]


def _write_block_keys(session: Session, prepared: dict[int, Prepared]) -> None:
    for batch3 in _chunks(prepared):
        session.connection().exec_driver_sql(
            f"DELETE FROM identity_block_keys WHERE record_id IN ({','.join(str(int(i)) for i in batch3)})"
        )
    rows = [{"record_id": rid, "key": bk} for rid, p in prepared.items() for bk in p.block_keys]
    for batch4 in _chunks(rows, 5000):
        bulk_insert(session.connection(), table_of(BlockKey), batch4)


def _closure(session: Session, seeds: dict[int, Prepared], rules: IdentityRules, model: FSModel) -> _Closure:
    """Every record a change can affect: see the module docstring."""
    prepared = dict(seeds)
    known_hubs: set[tuple[str, str]] = set()
    oversized: set[str] = set()
    by_kind = {r.kind: r for r in rules.identifiers}
    lower = rules.probabilistic.lower
    frontier = set(seeds)
    visited = set(seeds)
    while frontier:
        found: set[int] = set()
        # 1. Shared identifier values (all holders, so hub status is judged on the whole set).
        wanted: dict[str, set[str]] = defaultdict(set)
        for rid in frontier:
            for kind, values in prepared[rid].identifiers.items():
                for v in values:
                    if not by_kind[kind].is_blocked(v) and (kind, v) not in known_hubs:
                        wanted[kind].add(v)
        for kind, wanted_values in wanted.items():
            for batch5 in _chunks(sorted(wanted_values)):
                holders: dict[str, set[int]] = defaultdict(set)
                sql = f"SELECT record_id, value FROM identifiers WHERE kind = ? AND value IN ({_marks(len(batch5))})"
                for rid, value in _rows(session, sql, [kind, *batch5]):
                    holders[value].add(rid)
                for value, rids in holders.items():
                    if len(rids) > HOLDER_CAP:
                        known_hubs.add((kind, value))
                    else:
                        found |= rids
        # 2. Same current customer and manual links.
        keys = {prepared[rid].key for rid in frontier}
        for batch6 in _chunks(sorted(frontier)):
            sql = (
                "SELECT id FROM customer_records WHERE customer_id IN "
                f"(SELECT customer_id FROM customer_records WHERE id IN ({_marks(len(batch6))}))"
            )
            found |= {i for (i,) in _rows(session, sql, batch6)}
        manual_keys: set[str] = set()
        for batch8 in _chunks(sorted(keys), CHUNK // 2):
            marks = _marks(len(batch8))
            sql = (
                "SELECT record_a, record_b FROM identity_edges WHERE kind = 'manual' "
                f"AND (record_a IN ({marks}) OR record_b IN ({marks}))"
            )
            for a, b in _rows(session, sql, [*batch8, *batch8]):
                manual_keys |= {a, b}
        if manual_keys - keys:
            found |= set(_ids_for_keys(session, manual_keys - keys).values())
        # 3. Blocking keys: co-members scoring at least the review threshold.
        if rules.probabilistic.enabled and rules.probabilistic.fields:
            bkeys = {bk for rid in frontier for bk in prepared[rid].block_keys} - oversized
            members: dict[str, set[int]] = defaultdict(set)
            for batch9 in _chunks(sorted(bkeys)):
                sql = f"SELECT record_id, key FROM identity_block_keys WHERE key IN ({_marks(len(batch9))})"
                for rid, bk in _rows(session, sql, batch9):
                    members[bk].add(rid)
            unknown = {rid for rids in members.values() for rid in rids} - set(prepared)
            prepared.update(_load_prepared(session, unknown, rules))
            oversized |= {bk for bk, rids in members.items() if len(rids) > rules.probabilistic.max_block_size}
            # Walk each frontier record's own keys (a loop over every key × every frontier record was quadratic:
            # a first resolve of 5,768 records spent 30 s here). The found set does not depend on the order.
            for rid in frontier:
                mine = prepared[rid]
                mine_values = _hidden(mine, rules)
                for bk in set(mine.block_keys) - oversized:
                    for other in members.get(bk, set()) - {rid} - found:
                        p = fast_probability(rules, model, mine_values, _hidden(prepared[other], rules))
                        if p >= lower:
                            found.add(other)
        new = found - visited
        prepared.update(_load_prepared(session, new - set(prepared), rules))
        visited |= new
        frontier = new
    return _Closure({rid: prepared[rid] for rid in visited}, known_hubs, oversized)


def _hidden(p: Prepared, rules: IdentityRules) -> dict[str, str | None]:
    """Comparison values with blocklisted identifier values hidden (hubs are judged in `resolve`)."""
    out = p.values
    for rule in rules.identifiers:
        v = out.get(rule.attribute)
        if v is not None and rule.is_blocked(normalize_identifier(rule, v) or v):
            out = {**out, rule.attribute: None}
    return out


def _constraints(
    session: Session, keys: set[str], *, full: bool
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Manual links and do-not-link pairs with both ends inside `keys`."""
    manual: dict[tuple[str, str], str] = {}
    dnl: set[tuple[str, str]] = set()
    edge_sql = "SELECT record_a, record_b, approved_by FROM identity_edges WHERE kind = 'manual'"
    dnl_sql = "SELECT record_a, record_b FROM identity_do_not_link"
    batches: Iterable[list[str] | None] = [None] if full else _chunks(sorted(keys), CHUNK // 2)
    for batch in batches:
        if batch is None:
            edge_rows, dnl_rows = _rows(session, edge_sql), _rows(session, dnl_sql)
        else:
            marks = _marks(len(batch))
            touching = f"(record_a IN ({marks}) OR record_b IN ({marks}))"
            edge_rows = _rows(session, f"{edge_sql} AND {touching}", [*batch, *batch])
            dnl_rows = _rows(session, f"{dnl_sql} WHERE {touching}", [*batch, *batch])
        for a, b, who in edge_rows:
            if a in keys and b in keys:
                manual[_pair(a, b)] = who
        for a, b in dnl_rows:
            if a in keys and b in keys:
                dnl.add(_pair(a, b))
    return [(a, b, who) for (a, b), who in sorted(manual.items())], sorted(dnl)


def _new_customer_id() -> str:
    return f"cus_{uuid.uuid4().hex[:24]}"


def _apply(
    session: Session,
    closure: _Closure,
    rules: IdentityRules,
    model: FSModel,
    *,
    now: datetime,
    full: bool = False,
    touched: set[str] | None = None,
) -> tuple[Resolution, dict[str, int]]:
    """Re-cluster the closure and write customers, ids, edges and reviews; `touched` gets the customers involved."""
    touched = set() if touched is None else touched
    by_key = {p.key: rid for rid, p in closure.prepared.items()}
    keys = set(by_key)
    manual, dnl = _constraints(session, keys, full=full)
    res = resolve(
        [],
        rules,
        model,
        manual_links=manual,
        do_not_link=dnl,
        known_hubs=closure.known_hubs,
        oversized_blocks=closure.oversized,
        prepared={p.key: p for p in closure.prepared.values()},
    )
    old: dict[int, str | None] = {}
    if full:  # the closure is every record: one read, not a thousand batches of ids
        old.update(_rows(session, "SELECT id, customer_id FROM customer_records"))
    for batch10 in () if full else _chunks(sorted(closure.prepared)):
        sql = f"SELECT id, customer_id FROM customer_records WHERE id IN ({_marks(len(batch10))})"
        old.update(_rows(session, sql, batch10))
    overlap: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for i, cluster in enumerate(res.clusters):
        for key in cluster:
            cid = old.get(by_key[key])
            if cid:
                overlap[cid][i] += 1
    created: dict[str, datetime] = {}
    for batch11 in _chunks(overlap):
        sql = f"SELECT id, created_at FROM customers WHERE id IN ({_marks(len(batch11))})"
        created.update((cid, _utc(at)) for cid, at in _rows(session, sql, batch11))
    far_future = datetime.max.replace(tzinfo=now.tzinfo)
    assigned: dict[int, str] = {}
    losers: dict[str, int] = {}
    for cid in sorted(overlap, key=lambda c: (created.get(c, far_future), c)):
        best = min(overlap[cid].items(), key=lambda t: (-t[1], res.clusters[t[0]][0]))[0]
        if best in assigned:
            losers[cid] = best
        else:
            assigned[best] = cid
    stats = {"created": 0, "merged": 0, "split": sum(1 for parts in overlap.values() if len(parts) > 1)}
    new_customers = []
    for i in range(len(res.clusters)):
        if i not in assigned:
            assigned[i] = _new_customer_id()
            new_customers.append({"id": assigned[i], "created_at": now})
            if not any(old.get(by_key[k]) for k in res.clusters[i]):
                stats["created"] += 1
    for batch12 in _chunks(new_customers, 2000):
        bulk_insert(session.connection(), table_of(Customer), batch12)
    changes: dict[str, list[int]] = defaultdict(list)
    for i, cluster in enumerate(res.clusters):
        for key in cluster:
            rid = by_key[key]
            if old.get(rid) != assigned[i]:
                changes[assigned[i]].append(rid)
    if changes:
        # One executemany instead of a statement per customer, in record order (the table's pages in order: half
        # the CPU of cluster order). A rebuild touches every record, so SQLite builds the customer_id index after
        # the update (a WAL reader keeps the committed one); PostgreSQL would lock the table for readers.
        conn = session.connection()
        records = table_of(CustomerRecord)
        by_record = sorted((rid, cid) for cid, rids in changes.items() for rid in rids)
        deferred = full and conn.dialect.name == "sqlite"
        with indexes_deferred(conn, records, ["customer_id"]) if deferred else contextlib.nullcontext():
            update_tuples(conn, records, ["customer_id"], "id", [(cid, rid) for rid, cid in by_record])
    still_used = set(assigned.values())
    for cid in set(overlap) - still_used:
        remaining = session.exec(
            select(func.count()).select_from(CustomerRecord).where(CustomerRecord.customer_id == cid)
        ).one()
        if remaining:
            continue  # records outside the closure still point at it (cannot happen for a consistent graph)
        target = assigned[losers[cid]] if cid in losers else assigned[max(overlap[cid], key=lambda i: overlap[cid][i])]
        session.exec(update(CustomerAlias).where(col(CustomerAlias.customer_id) == cid).values(customer_id=target))
        if session.get(CustomerAlias, cid) is None:
            session.add(CustomerAlias(alias_id=cid, customer_id=target, reason="merge", created_at=now))
        session.exec(delete(Customer).where(col(Customer.id) == cid))
        stats["merged"] += 1
    session.flush()
    _replace_edges_and_reviews(session, keys, res, full=full, now=now)
    touched.update(c for c in old.values() if c)
    touched.update(assigned.values())
    return res, stats


def _replace_edges_and_reviews(session: Session, keys: set[str], res: Resolution, *, full: bool, now: datetime) -> None:
    """Replace the system edges of the closure; keep review items that are still open (their ids stay)."""
    # Review rows through the driver, not ORM objects: this runs on every incremental resolution.
    existing: dict[tuple[str, str], tuple[Any, ...]] = {}
    review_sql = "SELECT record_a, record_b, id, status, reason, score, evidence FROM identity_reviews"
    if full:
        existing = {(r[0], r[1]): r[2:] for r in _rows(session, review_sql)}
    else:
        for batch14 in _chunks(sorted(keys), CHUNK // 2):
            marks = _marks(len(batch14))
            touching = f"(record_a IN ({marks}) OR record_b IN ({marks}))"
            sql = f"DELETE FROM identity_edges WHERE kind <> 'manual' AND {touching}"
            _execute(session, sql, (*batch14, *batch14))
            existing.update(
                {(r[0], r[1]): r[2:] for r in _rows(session, f"{review_sql} WHERE {touching}", [*batch14, *batch14])}
            )
    conn, edges = session.connection(), table_of(IdentityEdge)
    columns = ["record_a", "record_b", "kind", "rule", "score", "evidence", "approved_by", "created_at"]
    to_json_edge, to_time = column_converters(edges, ["evidence", "created_at"], conn.dialect.name)
    stamp = now if to_time is None else to_time(now)
    # The deterministic edges of one identifier value share one evidence list: serialized once.
    stored_evidence: dict[int, Any] = {}

    def evidence_of(e: Edge) -> Any:
        found = stored_evidence.get(id(e.evidence))
        if found is None:
            found = stored_evidence[id(e.evidence)] = e.evidence if to_json_edge is None else to_json_edge(e.evidence)
        return found

    edge_rows = [
        (e.a, e.b, e.kind, e.rule, e.score, evidence_of(e), e.approved_by, stamp)
        for e in res.edges
        if e.kind != "manual"
    ]
    # A rebuild replaces every system edge: SQLite builds the table's indexes once after (see the customer update).
    with indexes_deferred(conn, edges) if full and conn.dialect.name == "sqlite" else contextlib.nullcontext():
        if full:
            session.exec(delete(IdentityEdge).where(col(IdentityEdge.kind) != "manual"))
        for batch15 in _chunks(edge_rows, 50_000):
            insert_tuples(conn, edges, columns, batch15)
    wanted = {_pair(r.a, r.b): r for r in res.reviews}
    reviews = table_of(IdentityReview)
    (to_json,) = column_converters(reviews, ["evidence"], session.connection().dialect.name)
    gone: list[Any] = []
    changed: list[tuple[Any, ...]] = []
    for pair, (rid, status, reason, score, evidence) in existing.items():
        if status != "pending":
            continue
        item = wanted.get(pair)
        if item is None:
            gone.append(rid)
        elif (reason, score, _json_value(evidence)) != (item.reason, item.score, item.evidence):
            stored = item.evidence if to_json is None else to_json(item.evidence)
            changed.append((item.reason, item.score, stored, rid))
    for batch in _chunks(gone):
        _execute(session, f"DELETE FROM identity_reviews WHERE id IN ({_marks(len(batch))})", batch)
    update_tuples(session.connection(), reviews, ["reason", "score", "evidence"], "id", changed)
    review_rows = [
        {
            "record_a": pair[0],
            "record_b": pair[1],
            "reason": r.reason,
            "score": r.score,
            "evidence": r.evidence,
            "status": "pending",
            "created_at": now,
        }
        for pair, r in sorted(wanted.items())
        if pair not in existing
    ]
    for batch16 in _chunks(review_rows, 2000):
        bulk_insert(session.connection(), table_of(IdentityReview), batch16)


def _summary(
    records: int,
    res: Resolution | None,
    stats: dict[str, int],
    affected: int,
    t0: float,
    customers: frozenset[str] = frozenset(),
) -> ResolveSummary:
    return ResolveSummary(
        records=records,
        affected=affected,
        customers_created=stats.get("created", 0),
        customers_merged=stats.get("merged", 0),
        customers_split=stats.get("split", 0),
        edges=len(res.edges) if res else 0,
        reviews=len(res.reviews) if res else 0,
        seconds=time.perf_counter() - t0,
        customers=customers,
    )


def _resolve_from(
    session: Session, record_ids: Iterable[int | None], rules: IdentityRules, model: FSModel, now: datetime
) -> dict[str, int]:
    seeds = _load_prepared(session, record_ids, rules)
    _write_block_keys(session, seeds)
    session.flush()
    closure = _closure(session, seeds, rules, model)
    _res, stats = _apply(session, closure, rules, model, now=now)
    return stats


def resolve_pending(
    *, engine: Engine, rules: IdentityRules, now: datetime, model: FSModel | None = None, actor: str = "system"
) -> ResolveSummary:
    """Resolve records synced since the last run (and any without a customer) against the existing graph.

    Call it right after an intake sync; a run with nothing new returns an all-zero summary and logs
    nothing. Each run that resolved records is logged as a `resolve` action (not undoable).
    """
    t0 = time.perf_counter()
    with Session(engine) as session:
        if model is None and _rows(session, "SELECT 1 FROM identity_state WHERE key = ?", ["model"]):
            model = _stored_model(session, rules)
        mark = _get_state(session, "watermark")
        # Plain SQL (see `_rows`): this runs on every incremental resolution.
        sql = "SELECT id, synced_at FROM customer_records"
        params: list[Any] = []
        seen_at_mark: set[int] = set()
        if mark and mark.get("synced_at"):
            since = datetime.fromisoformat(mark["synced_at"])
            # >= rather than >: a record synced in the same instant as the last one seen is not missed;
            # the records already resolved at exactly that instant are remembered and skipped.
            sql += " WHERE synced_at >= ? OR customer_id IS NULL"
            params = [_db_time(session, CustomerRecord, "synced_at", since)]
            seen_at_mark = set(mark.get("ids", []))
        rows = [(rid, _utc(at)) for rid, at in _rows(session, sql, params) if rid not in seen_at_mark]
        if not rows:
            return _summary(0, None, {}, 0, t0)
        touched: set[str] = set()
        if not _rows(session, "SELECT 1 FROM customer_records WHERE customer_id IS NOT NULL LIMIT 1"):
            # No record has a customer yet (the first sync of a store): every record is pending and the closure
            # would be the whole store, so resolve it the way `rebuild` does — one read, no closure walk — which
            # gives the same customers, edges and reviews (see the module docstring). The walk took 187 s for
            # 290k records. (An index seek, not a count: counting 290k records cost 10 ms a call.)
            with cyclic_gc_paused():
                everything = _load_prepared(session, None, rules)
                # The first run fits the model on what intake loaded (later runs reuse it; `train` refits).
                model = model or _train_on(session, list(everything.values()), rules, now)
                res, stats = _resolve_all(session, everything, rules, model, now, touched=touched)
            affected = len(everything)
        else:
            if model is None:
                model = _train_on(session, list(_load_prepared(session, None, rules).values()), rules, now)
            seeds = _load_prepared(session, [r[0] for r in rows], rules)
            _write_block_keys(session, seeds)
            session.flush()
            closure = _closure(session, seeds, rules, model)
            res, stats = _apply(session, closure, rules, model, now=now, touched=touched)
            affected = len(closure.prepared)
        _set_watermark(session, max(r[1] for r in rows), now)
        summary = _summary(len(rows), res, stats, affected, t0, frozenset(touched))
        _log_run(session, "resolve", actor, summary.model_dump(mode="json"), now)
        session.commit()
        return summary


def _resolve_all(
    session: Session,
    prepared: dict[int, Prepared],
    rules: IdentityRules,
    model: FSModel,
    now: datetime,
    *,
    touched: set[str] | None = None,
) -> tuple[Resolution, dict[str, int]]:
    """Re-cluster every record (`prepared` is the whole store): block keys, hub identifiers, then `_apply`."""
    session.exec(delete(BlockKey))
    conn, table = session.connection(), table_of(BlockKey)
    # Every key is new: the table's indexes are built once after the insert (identity alone reads this table).
    with indexes_deferred(conn, table):
        rows = [(rid, bk) for rid in sorted(prepared) for bk in prepared[rid].block_keys]
        for batch17 in _chunks(rows, 50_000):
            insert_tuples(conn, table, ["record_id", "key"], batch17)
    holders: dict[tuple[str, str], int] = defaultdict(int)
    for p in prepared.values():
        for kind, values in p.identifiers.items():
            for v in values:
                holders[(kind, v)] += 1
    known = {kv for kv, n in holders.items() if n > HOLDER_CAP}
    return _apply(session, _Closure(prepared, known, set()), rules, model, now=now, full=True, touched=touched)


def rebuild(
    *, engine: Engine, rules: IdentityRules, now: datetime, model: FSModel | None = None, actor: str = "system"
) -> ResolveSummary:
    """Recompute every customer from the raw records; ids are kept by the stable-id rule."""
    t0 = time.perf_counter()
    # Loading and clustering every record is one batch (see `context.gcpause`).
    with cyclic_gc_paused(), Session(engine) as session:
        model = model or load_model(engine=engine, rules=rules)
        prepared = _load_prepared(session, None, rules)
        res, stats = _resolve_all(session, prepared, rules, model, now)
        latest = session.exec(select(func.max(CustomerRecord.synced_at))).one()
        if latest is not None:
            _set_watermark(session, latest, now)
        summary = _summary(len(prepared), res, stats, len(prepared), t0)
        _log_run(session, "rebuild", actor, summary.model_dump(mode="json"), now)
        session.commit()
        return summary
