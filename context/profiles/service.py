"""Golden profiles on the database: (re)compute, read, conflicts and status history.

Recomputation is batched: each batch of customers costs a handful of set-based queries (records,
subscriptions, order and ticket aggregates, old statuses) and bulk writes, whatever its size. A profile
stores a *signature* of its member records (count, sum of ids, latest synced_at), so
`recompute_profiles(customer_ids=None)` finds exactly the customers whose records changed, moved
(merge/unmerge) or disappeared since their profile was computed.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.engine import Connection, Engine

from context.bulkwrite import bulk_insert, chunks
from context.canonical.models import CustomerRecord, Order, Subscription, Ticket
from context.dbtypes import table_of
from context.profiles.config import PROFILE_FIELDS, ProfilesConfig
from context.profiles.errors import ProfileNotFoundError
from context.profiles.models import (
    ConflictPublic,
    CustomerProfile,
    FieldValue,
    ProfileConflict,
    ProfilePublic,
    RecomputeSummary,
    StatusChange,
    StatusChangePublic,
)
from context.profiles.status import OrderStats, StatusResult, Sub, current_subscription, derive_status
from context.profiles.survivorship import Candidate, fold, postcode_key, survive

BATCH = 500  # customers per batch: well under SQLite's bound-parameter limit


R = table_of(CustomerRecord)
S = table_of(Subscription)
O = table_of(Order)  # noqa: E741
TK = table_of(Ticket)
P = table_of(CustomerProfile)
C = table_of(ProfileConflict)
H = table_of(StatusChange)


def _signatures(conn: Connection, customer_ids: Sequence[str] | None) -> dict[str, str]:
    query = select(R.c.customer_id, func.count(), func.sum(R.c.id), func.max(R.c.synced_at)).group_by(R.c.customer_id)
    out: dict[str, str] = {}
    if customer_ids is None:
        rows: Iterable[Any] = conn.execute(query.where(R.c.customer_id.is_not(None)))
    else:
        batches = chunks(customer_ids, BATCH)
        rows = [row for batch in batches for row in conn.execute(query.where(R.c.customer_id.in_(batch)))]
    for cid, count, total, latest in rows:
        out[cid] = f"{count}:{total}:{latest.isoformat() if latest else ''}"
    return out


def _stale(conn: Connection, customer_ids: Sequence[str] | None, *, full: bool) -> tuple[dict[str, str], list[str]]:
    """Customers to (re)compute with their signatures, and profile ids to remove."""
    current = _signatures(conn, customer_ids)
    if customer_ids is None:
        stored = dict(conn.execute(select(P.c.customer_id, P.c.signature)).all())
    else:
        stored = {}
        for batch in chunks(customer_ids, BATCH):
            stored.update(conn.execute(select(P.c.customer_id, P.c.signature).where(P.c.customer_id.in_(batch))).all())
    removed = sorted(set(stored) - set(current))
    if full or customer_ids is not None:
        return current, removed
    return {cid: sig for cid, sig in current.items() if stored.get(cid) != sig}, removed


def recompute_profiles(
    *,
    engine: Engine,
    config: ProfilesConfig,
    now: datetime,
    customer_ids: Sequence[str] | None = None,
    full: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RecomputeSummary:
    """Recompute golden profiles: the given customers, or (None) every customer whose records changed.

    Call it after a sync + identity resolution, and after merge/unmerge: the signature check also picks up
    records that moved between customers, and profiles of customers that no longer exist are removed.
    `full=True` recomputes every customer.
    """
    t0 = time.perf_counter()
    totals = {"customers": 0, "records": 0, "status_changes": 0, "conflicts": 0}
    with engine.begin() as conn:
        todo, removed = _stale(conn, list(dict.fromkeys(customer_ids)) if customer_ids is not None else None, full=full)
        for batch in chunks(removed, BATCH):
            conn.execute(delete(P).where(P.c.customer_id.in_(batch)))
            conn.execute(delete(C).where(C.c.customer_id.in_(batch)))
    ids = sorted(todo)
    done = 0
    for batch in chunks(ids, BATCH):
        # One transaction per batch keeps memory and lock times flat on large recomputes.
        with engine.begin() as conn:
            stats = _recompute_batch(conn, batch, todo, config, now)
        for key, value in stats.items():
            totals[key] += value
        done += len(batch)
        if on_progress:
            on_progress(done, len(ids))
    return RecomputeSummary(removed=len(removed), seconds=time.perf_counter() - t0, **totals)


def _sub_of(row: Any) -> Sub:
    return Sub(
        source=row.source,
        source_record_id=row.source_record_id,
        ref=row.subscription_ref,
        plan=row.plan,
        status=row.status,
        interval=row.interval,
        started_at=row.started_at,
        trial_end=row.trial_end,
        current_period_end=row.current_period_end,
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
        updated_at=row.source_updated_at,
        mrr=row.mrr,
        currency=row.currency,
    )


def _load_batch(conn: Connection, batch: list[str], config: ProfilesConfig) -> dict[str, Any]:
    # Column order matters: _candidates reads 1-4 by position and the person fields from 6 on.
    cols = [R.c.customer_id, R.c.source, R.c.source_record_id, R.c.source_updated_at, R.c.blank_fields, R.c.id]
    cols += [R.c[f] for f in PROFILE_FIELDS]
    records: dict[str, list[Any]] = defaultdict(list)
    record_ids: list[int] = []
    for row in conn.execute(select(*cols).where(R.c.customer_id.in_(batch))):
        records[row.customer_id].append(row)
        record_ids.append(row.id)
    subs: dict[str, list[Sub]] = defaultdict(list)
    orders: dict[str, list[Any]] = defaultdict(list)
    order_records: set[int] = set()
    open_tickets: dict[str, int] = defaultdict(int)
    ignored = config.status.ignored_order_financial_statuses
    sub_cols = [R.c.customer_id, *[c for c in S.c if c.name != "source_record_id"], S.c.source_record_id]
    # Filtering the entity joins on explicit record ids (not on customer_id) keeps PostgreSQL on index
    # nested loops; with customer_id it may hash-join whole 1M-row tables for every batch.
    for ids in chunks(record_ids, 5000):
        for row in conn.execute(
            select(*sub_cols).select_from(S.join(R, S.c.record_id == R.c.id)).where(R.c.id.in_(ids))
        ):
            subs[row.customer_id].append(_sub_of(row))
        for row in conn.execute(
            select(
                R.c.customer_id,
                O.c.currency,
                O.c.source,
                func.count(),
                func.sum(O.c.total),
                func.min(O.c.placed_at),
                func.max(O.c.placed_at),
            )
            .select_from(O.join(R, O.c.record_id == R.c.id))
            .where(R.c.id.in_(ids), or_(O.c.financial_status.is_(None), O.c.financial_status.not_in(ignored)))
            .group_by(R.c.customer_id, O.c.currency, O.c.source)
        ):
            orders[row[0]].append(row)
        order_records.update(conn.execute(select(O.c.record_id).where(O.c.record_id.in_(ids))).scalars())
        for cid, count in conn.execute(
            select(R.c.customer_id, func.count())
            .select_from(TK.join(R, TK.c.record_id == R.c.id))
            .where(R.c.id.in_(ids), TK.c.status.in_(config.status.open_ticket_statuses))
            .group_by(R.c.customer_id)
        ):
            open_tickets[cid] += int(count)
    old = {
        row[0]: row[1] for row in conn.execute(select(P.c.customer_id, P.c.status).where(P.c.customer_id.in_(batch)))
    }
    return {
        "records": records,
        "subs": subs,
        "orders": orders,
        "order_records": order_records,
        "open_tickets": open_tickets,
        "old": old,
    }


def _order_stats(rows: list[Any]) -> OrderStats:
    if not rows:
        return OrderStats()
    by_currency: dict[str | None, list[Any]] = defaultdict(list)
    for row in rows:
        by_currency[row[1]].append(row)
    # Lifetime value in the currency most orders were placed in (no FX conversion).
    currency, main = max(by_currency.items(), key=lambda kv: (sum(r[3] for r in kv[1]), kv[0] or ""))
    amounts = [Decimal(str(r[4])) for r in main if r[4] is not None]
    # No order with a readable amount: the lifetime value is unknown, not zero.
    total = sum(amounts, Decimal(0)).quantize(Decimal("0.01")) if amounts else None
    firsts = [r[5] for r in rows if r[5] is not None]
    lasts = [r[6] for r in rows if r[6] is not None]
    return OrderStats(
        count=sum(r[3] for r in rows),
        lifetime_value=total,
        currency=currency,
        first_at=min(firsts) if firsts else None,
        last_at=max(lasts) if lasts else None,
        sources=tuple(sorted({r[2] for r in rows})),
    )


#: Where a person is: on an order's record these say where that order went, not where the customer lives.
SHIPPING_FIELDS = ("address", "city", "postcode", "region", "country")


def _candidates(
    records: list[Any], current_sub: Sub | None, order_records: Collection[int] = ()
) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = defaultdict(list)
    shipped: dict[str, list[Candidate]] = defaultdict(list)
    known = set(PROFILE_FIELDS)
    for rec in records:
        if rec[5] in order_records:
            _shipping_candidates(rec, out, shipped, known)
            continue
        source, srid, updated = rec[1], rec[2], rec[3]
        # Person fields start at column 6 (see _load_batch); most are None, so skip those cheaply.
        for name, value in zip(PROFILE_FIELDS, rec[6:], strict=False):
            if value is not None and value != "":
                out[name].append(Candidate(value, source, srid, updated))
        for name in rec[4] or ():
            if name in known and (rec[6 + PROFILE_FIELDS.index(name)] in (None, "")):
                out[name].append(Candidate(None, source, srid, updated, blank=True))
    # A customer's several shipping addresses are not conflicts of their own address: an order's address only
    # fills a field no customer record has a say on, and then the newest order's does, alone.
    for name, cands in shipped.items():
        if name not in out:
            newest = max(cands, key=lambda c: (c.updated_at is not None, c.updated_at or 0, c.source_record_id))
            out[name].append(newest)
    # The billing system's plan lives on the subscription row, not on its customer record.
    if current_sub is not None and current_sub.plan:
        out["plan"].append(
            Candidate(current_sub.plan, current_sub.source, current_sub.source_record_id, current_sub.updated_at)
        )
    return out


def _shipping_candidates(
    rec: Any, out: dict[str, list[Candidate]], shipped: dict[str, list[Candidate]], known: set[str]
) -> None:
    """An order record's candidates: its person fields as usual, its address fields set aside in `shipped`."""
    source, srid, updated = rec[1], rec[2], rec[3]
    for name, value in zip(PROFILE_FIELDS, rec[6:], strict=False):
        if value is not None and value != "":
            (shipped if name in SHIPPING_FIELDS else out)[name].append(Candidate(value, source, srid, updated))
    for name in rec[4] or ():
        if name in known and name not in SHIPPING_FIELDS and (rec[6 + PROFILE_FIELDS.index(name)] in (None, "")):
            out[name].append(Candidate(None, source, srid, updated, blank=True))


def _status_conflict(
    status: StatusResult, lifecycle: FieldValue | None, config: ProfilesConfig
) -> dict[str, Any] | None:
    """The CRM lifecycle stage contradicting the derived status (e.g. CRM 'lead' for a trialing customer)."""
    if lifecycle is None or lifecycle.value is None:
        return None
    agrees = config.status.lifecycle_agrees.get(status.status)
    if agrees is None or lifecycle.value in agrees:
        return None
    return {
        "field": "status",
        "chosen": status.status,
        "chosen_source": status.source,
        "values": [
            {
                "value": status.status,
                "source": status.source or "derived",
                "source_record_id": status.source_record_id,
                "note": status.cause,
            },
            {
                "value": lifecycle.value,
                "source": lifecycle.source,
                "source_record_id": lifecycle.source_record_id,
                "source_updated_at": lifecycle.source_updated_at.isoformat() if lifecycle.source_updated_at else None,
                "note": "lifecycle_stage",
            },
        ],
    }


def _recompute_batch(
    conn: Connection, batch: list[str], signatures: dict[str, str], config: ProfilesConfig, now: datetime
) -> dict[str, int]:
    data = _load_batch(conn, batch, config)
    profiles: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    n_records = 0
    for cid in batch:
        records = data["records"].get(cid, [])
        n_records += len(records)
        subs = data["subs"].get(cid, [])
        orders = _order_stats(data["orders"].get(cid, []))
        current = current_subscription(subs, config.status)
        survivors = survive(
            _candidates(records, current[0] if current else None, data["order_records"]), config.profiles
        )
        fields = survivors.fields
        seen = [r.source_updated_at for r in records if r.source_updated_at is not None]
        status = derive_status(
            subscriptions=subs,
            orders=orders,
            lifecycle=fields.get("lifecycle_stage"),
            record_sources=[r.source for r in records],
            first_seen=min(seen) if seen else None,
            config=config.status,
        )
        customer_conflicts = [
            {
                "customer_id": cid,
                "field": c.field,
                "chosen": None if c.chosen is None or c.chosen.value is None else str(c.chosen.value),
                "chosen_source": c.chosen.source if c.chosen else None,
                "values": [
                    {
                        "value": str(v.value),
                        "source": v.source,
                        "source_record_id": v.source_record_id,
                        "source_updated_at": v.updated_at.isoformat() if v.updated_at else None,
                    }
                    for v in sorted(c.values, key=lambda v: (v.source, v.source_record_id))
                ],
                "detected_at": now,
            }
            for c in survivors.conflicts
        ]
        extra = _status_conflict(status, fields.get("lifecycle_stage"), config)
        if extra is not None:
            customer_conflicts.append({"customer_id": cid, **extra, "detected_at": now})
        conflicts.extend(customer_conflicts)
        old_status = data["old"].get(cid)
        if old_status != status.status:
            history.append(
                {
                    "customer_id": cid,
                    "from_status": old_status,
                    "to_status": status.status,
                    "cause": status.cause,
                    "source": status.source,
                    "source_record_id": status.source_record_id,
                    "changed_at": now,
                }
            )
        name = _display_name(fields)
        postcode = fields.get("postcode")
        plan = fields.get("plan")
        profiles.append(
            {
                "customer_id": cid,
                "signature": signatures[cid],
                "computed_at": now,
                "revision": uuid.uuid4().hex,
                "record_count": len(records),
                "display_name": name,
                "email": _value(fields, "email"),
                "phone": _value(fields, "phone"),
                "name_key": fold(name)[:255] if name else None,
                "postcode_key": postcode_key(str(postcode.value)) if postcode and postcode.value else None,
                "fields": {k: v.model_dump(mode="json") for k, v in fields.items()},
                "status": status.status,
                "status_cause": status.cause,
                "status_source": status.source,
                "status_source_record_id": status.source_record_id,
                "status_since": status.since,
                "plan": plan.value if plan else None,
                "renewal_at": status.renewal_at,
                "ends_at": status.ends_at,
                "lifetime_value": orders.lifetime_value,
                "currency": orders.currency,
                "order_count": orders.count,
                "first_order_at": orders.first_at,
                "last_order_at": orders.last_at,
                "open_ticket_count": int(data["open_tickets"].get(cid, 0)),
                "conflict_count": len(customer_conflicts),
            }
        )
    conn.execute(delete(P).where(P.c.customer_id.in_(batch)))
    conn.execute(delete(C).where(C.c.customer_id.in_(batch)))
    bulk_insert(conn, P, profiles)
    bulk_insert(conn, C, conflicts)
    bulk_insert(conn, H, history)
    return {"customers": len(batch), "records": n_records, "status_changes": len(history), "conflicts": len(conflicts)}


def _value(fields: dict[str, FieldValue], name: str) -> Any:
    fv = fields.get(name)
    return None if fv is None else fv.value


def _display_name(fields: dict[str, FieldValue]) -> str | None:
    full = _value(fields, "full_name")
    if full:
        return str(full)
    parts = [str(p) for p in (_value(fields, "first_name"), _value(fields, "last_name")) if p]
    return " ".join(parts) or None


# ------------------------------------------------------------------------------------------ reading


def _public(row: CustomerProfile | Any) -> ProfilePublic:
    data = dict(row._mapping) if hasattr(row, "_mapping") else row.model_dump()
    data["fields"] = {k: FieldValue.model_validate(v) for k, v in (data.get("fields") or {}).items()}
    return ProfilePublic.model_validate(data)


def get_profile(*, engine: Engine, customer_id: str) -> ProfilePublic:
    """The stored profile of a customer (raises ProfileNotFoundError)."""
    with engine.connect() as conn:
        row = conn.execute(select(P).where(P.c.customer_id == customer_id)).first()
    if row is None:
        raise ProfileNotFoundError(customer_id)
    return _public(row)


def list_conflicts(
    *, engine: Engine, field: str | None = None, customer_id: str | None = None, limit: int = 100
) -> list[ConflictPublic]:
    """Recorded conflicts (newest customers' first), optionally for one field or customer."""
    query = select(C).order_by(C.c.field, C.c.customer_id).limit(limit)
    if field:
        query = query.where(C.c.field == field)
    if customer_id:
        query = query.where(C.c.customer_id == customer_id)
    with engine.connect() as conn:
        return [ConflictPublic.model_validate(dict(r._mapping)) for r in conn.execute(query)]


def conflict_counts(*, engine: Engine) -> dict[str, int]:
    """Number of conflicts per field."""
    with engine.connect() as conn:
        rows = conn.execute(select(C.c.field, func.count()).group_by(C.c.field).order_by(C.c.field)).all()
    return {str(field): int(count) for field, count in rows}


def status_history(*, engine: Engine, customer_id: str) -> list[StatusChangePublic]:
    """Status changes of a customer, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(H).where(H.c.customer_id == customer_id).order_by(H.c.changed_at, H.c.id))
        return [StatusChangePublic.model_validate(dict(r._mapping)) for r in rows]


def search_profiles(*, engine: Engine, text: str, limit: int = 20) -> list[ProfilePublic]:
    """Profiles whose name or email contains the text (case- and accent-insensitive on names)."""
    needle = fold(text)
    like = f"%{needle}%"
    query = (
        select(P)
        .where(or_(P.c.name_key.like(like), P.c.email.like(like), and_(P.c.phone.is_not(None), P.c.phone.like(like))))
        .order_by(P.c.name_key, P.c.customer_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_public(r) for r in conn.execute(query)]


def profile_datetime(value: Any) -> datetime | None:
    """A provenance timestamp back from JSON."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
