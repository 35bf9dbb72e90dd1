"""Assemble a customer's context from the stored profile and records: identity, status, orders, subscriptions,
tickets, interactions, CRM, conflicts, freshness and known gaps.

A context costs a fixed number of indexed queries whatever the customer's history (profile, identifiers,
newest orders + their items, subscriptions, tickets, interactions, conflicts, sync freshness): no N+1. Those
record rows are read through `ROW_CACHE`, keyed by what any change to them changes (the profile's revision, the
customer's record ids, the sync runs), so a chat turn after a turn costs the profile, the record ids and the
sync-run reads; everything that depends on "now" (passed dates, stale-source gaps, live lookups) is derived anew.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from context.customer_context.config import ContextConfig
from context.customer_context.live import LiveLookup, age_text, overlay_live
from context.customer_context.models import (
    AccountStatus,
    ConflictInfo,
    CrmInfo,
    CustomerContext,
    IdentifierInfo,
    Identity,
    InteractionInfo,
    Interactions,
    OrderInfo,
    OrderLine,
    Orders,
    RecordConflict,
    SectionMeta,
    SourceValue,
    SubscriptionInfo,
    Subscriptions,
    TicketInfo,
    Tickets,
)
from context.customer_context.tables import IA, IDN, OI, PC, SR, TK, O, R, S


def _freshness(conn: Connection) -> dict[str, datetime]:
    rows = conn.execute(
        select(SR.c.source, func.max(SR.c.finished_at)).where(SR.c.status == "ok").group_by(SR.c.source)
    ).all()
    return {source: finished for source, finished in rows if finished is not None}


def _meta(sources: Sequence[str], synced: dict[str, datetime]) -> SectionMeta:
    times = [synced[s] for s in sources if s in synced]
    # The section is only as fresh as its stalest source.
    return SectionMeta(as_of=min(times) if times else None, sources=sorted(set(sources)))


def _gaps(config: ContextConfig, synced: dict[str, datetime], now: datetime) -> list[str]:
    gaps: list[str] = []
    stale = timedelta(hours=config.stale_after_hours)
    for label, sources in (
        ("billing", config.billing_sources),
        ("orders", config.order_sources),
        ("support tickets", config.ticket_sources),
        ("CRM", config.crm_sources),
    ):
        if not sources:
            gaps.append(f"no {label} source connected: {label} facts are unknown, not absent")
            continue
        for source in sources:
            finished = synced.get(source)
            if finished is None:
                gaps.append(f"{label} source {source} has never synced successfully")
            elif now - finished > stale:
                gaps.append(f"{label} last synced {age_text(now - finished)} ({source}, {finished:%Y-%m-%d %H:%M} UTC)")
    return gaps


def _disagreements(rows: Sequence[Any], fields: dict[str, Any]) -> list[RecordConflict]:
    """Fields on which the rows (records of one order or subscription) hold different known values."""
    out = []
    for name, read in fields.items():
        said = [(r, read(r)) for r in rows]
        if len({v for _, v in said if v is not None}) > 1:
            # A record that leaves the field empty does not contradict one that knows it: only known values.
            values = [
                SourceValue(source=r.source, record=r.source_record_id, value=v, as_of=r.source_updated_at)
                for r, v in said
                if v is not None
            ]
            out.append(RecordConflict(field=name, values=values))
    return out


def _order_total(o: Any) -> str | None:
    return None if o.total is None else f"{o.total:.2f} {o.currency or ''}".strip()


_ORDER_FIELDS: dict[str, Any] = {
    "fulfillment_status": lambda o: o.fulfillment_status,
    "financial_status": lambda o: o.financial_status,
    "tracking_numbers": lambda o: ", ".join(o.tracking_numbers) if o.tracking_numbers else None,
    "carrier": lambda o: o.carrier,
    "total": _order_total,
}
_SUB_FIELDS: dict[str, Any] = {
    "status": lambda s: s.status,
    "plan": lambda s: s.plan,
    "current_period_end": lambda s: s.current_period_end.date().isoformat() if s.current_period_end else None,
}
_ENDED = {"canceled", "cancelled", "incomplete_expired", "ended"}


def _order_key(number: str | None) -> str | None:
    return number.lstrip("#") if number else None


def _ts(value: datetime | None, default: float) -> float:
    if value is None:
        return default
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _sub_window(s: Any) -> tuple[float, float]:
    # When the subscription claimed to be the customer's: an ended one until it was cancelled (or its paid
    # period ran out), a live one up to now and beyond.
    start = _ts(s.started_at, float("-inf"))
    if s.canceled_at is not None or (s.status or "").lower() in _ENDED:
        return start, _ts(s.canceled_at or s.current_period_end, start)
    return start, float("inf")


def _sub_conflicts(current: Any, others: Sequence[Any]) -> list[RecordConflict]:
    """Other subscriptions whose time overlaps the current one's and that say something else about it."""
    c_start, c_end = _sub_window(current)
    overlapping = []
    for other in others:
        o_start, o_end = _sub_window(other)
        if o_start < c_end and c_start < o_end:
            overlapping.append(other)
    return _disagreements([current, *overlapping], _SUB_FIELDS) if overlapping else []


# Subscription statuses whose period end is the next renewal (past_due's period end is the missed one).
_RENEWING = {"active", "trialing"}
_PASSED_WORDS = {"trial_end": "trial end date", "current_period_end": "renewal date", "cancel_at": "cancellation date"}


def _before(value: datetime | None, now: datetime) -> bool:
    if value is None:
        return False
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware < (now if now.tzinfo else now.replace(tzinfo=UTC))


def _passed_dates(s: Any, now: datetime) -> list[str]:
    """The dates a live subscription presents as upcoming that are already before `now` (its data is stale)."""
    status = (s.status or "").lower()
    if s.canceled_at is not None or status in _ENDED:
        return []  # an ended subscription's dates are history, not promises
    passed = []
    if status == "trialing" and _before(s.trial_end, now):
        passed.append("trial_end")
    if status in _RENEWING and s.cancel_at is None and _before(s.current_period_end, now):
        passed.append("current_period_end")
    if _before(s.cancel_at, now):
        passed.append("cancel_at")
    return passed


def _status_passed(profile: Any, now: datetime) -> list[str]:
    """`renewal_at` / `ends_at` of a live account status that are already before `now`."""
    passed = []
    if profile.status in {"active", "trial"} and _before(profile.renewal_at, now):
        passed.append("renewal_at")
    if profile.status != "former" and _before(profile.ends_at, now):
        passed.append("ends_at")
    return passed


def _passed_gaps(subs: Sequence[SubscriptionInfo]) -> list[str]:
    """One gap per passed date: the source has not caught up with a renewal, conversion or cancellation."""
    gaps = []
    for s in subs:
        for name in s.passed:
            value = getattr(s, name)
            gaps.append(
                f"{_PASSED_WORDS[name]} {value:%Y-%m-%d %H:%M} UTC of subscription {s.ref} has passed; "
                "the subscription data may be stale"
            )
    return list(dict.fromkeys(gaps))


@dataclass(frozen=True)
class StoredRows:
    """What the context reads of one customer's records besides the profile: rows as the database returned them."""

    identifiers: tuple[tuple[str, str, str], ...]  # (kind, value, source), distinct
    orders: tuple[Any, ...]  # the newest `recent_orders` orders
    items: tuple[Any, ...]  # (order_id, sku, name, quantity, unit_price) of those orders
    same_number: tuple[Any, ...]  # every order row of the shown order numbers
    subscriptions: tuple[Any, ...]
    tickets: tuple[Any, ...]
    interactions: tuple[Any, ...]
    conflicts: tuple[Any, ...]  # (field, chosen, values) of the profile's conflicts


def read_rows(conn: Connection, profile: Any, recs: Sequence[int], config: ContextConfig) -> StoredRows:
    """The customer's identifiers, orders (+ items), subscriptions, tickets, interactions and conflicts: a fixed
    number of indexed queries whatever the history."""
    cid = profile.customer_id
    identifiers = tuple(
        (kind, value, source)
        for kind, value, source in conn.execute(
            select(IDN.c.kind, IDN.c.value, IDN.c.source).where(IDN.c.record_id.in_(recs)).distinct()
        )
    )
    order_rows = tuple(
        conn.execute(
            select(O)
            .where(O.c.record_id.in_(recs))
            .order_by(O.c.placed_at.desc().nulls_last(), O.c.id.desc())
            .limit(config.recent_orders)
        ).all()
    )
    items: tuple[Any, ...] = ()
    if order_rows:
        items = tuple(
            conn.execute(
                select(OI.c.order_id, OI.c.sku, OI.c.name, OI.c.quantity, OI.c.unit_price)
                .where(OI.c.order_id.in_([o.id for o in order_rows]))
                .order_by(OI.c.id)
            ).all()
        )
    # Every record of the shown order numbers (one query), so records of one order that disagree are marked.
    numbers = sorted({o.order_number for o in order_rows if o.order_number})
    same_number: tuple[Any, ...] = ()
    if numbers:
        forms = sorted({f for n in numbers for f in (n, n.lstrip("#"), "#" + n.lstrip("#"))})
        same_number = tuple(
            conn.execute(select(O).where(O.c.record_id.in_(recs), O.c.order_number.in_(forms)).order_by(O.c.id)).all()
        )
    ticket_rows = conn.execute(
        select(TK)
        .where(TK.c.record_id.in_(recs))
        .order_by(TK.c.updated_at.desc().nulls_last(), TK.c.id.desc())
        .limit(50 + config.resolved_tickets)
    ).all()
    interaction_rows = (
        conn.execute(
            select(IA)
            .where(IA.c.record_id.in_(recs))
            .order_by(IA.c.occurred_at.desc().nulls_last(), IA.c.id.desc())
            .limit(config.recent_interactions)
        ).all()
        if config.recent_interactions
        else []
    )
    conflicts: tuple[Any, ...] = ()
    if profile.conflict_count:
        conflicts = tuple(
            conn.execute(select(PC.c.field, PC.c.chosen, PC.c["values"]).where(PC.c.customer_id == cid)).all()
        )
    return StoredRows(
        identifiers=identifiers,
        orders=order_rows,
        items=items,
        same_number=same_number,
        subscriptions=tuple(conn.execute(select(S).where(S.c.record_id.in_(recs))).all()),
        tickets=tuple(ticket_rows),
        interactions=tuple(interaction_rows),
        conflicts=conflicts,
    )


def _runs_version(conn: Connection) -> tuple[Any, Any]:
    # A sync run's start adds a row and its end sets finished_at, whatever its status or the clock.
    row = conn.execute(select(func.max(SR.c.id), func.count(SR.c.finished_at))).one()
    return row[0], row[1]


class RowCache:
    """The stored rows of recently built contexts, per database, keyed by what a change to them always changes.

    The key: the customer, the profile's `revision` (a fresh token on every recompute: a webhook, a push, a
    sync's profile step), the customer's record ids (a merge or unmerge moves records), the sync runs (a sync
    started or finished) and the configured limits. A profile without a revision is never cached.
    """

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[Any, ...], StoredRows]] = (
            weakref.WeakKeyDictionary()
        )

    def rows(self, conn: Connection, profile: Any, recs: Sequence[int], config: ContextConfig) -> StoredRows:
        """The cached rows for this key, or read them (and keep them)."""
        if profile.revision is None or self.size <= 0:
            return read_rows(conn, profile, recs, config)
        key = (
            profile.customer_id,
            profile.revision,
            profile.conflict_count,
            tuple(recs),
            _runs_version(conn),
            config.recent_orders,
            config.resolved_tickets,
            config.recent_interactions,
        )
        with self._lock:
            cache = self._by_engine.setdefault(conn.engine, OrderedDict())
            found = cache.get(key)
            if found is not None:
                cache.move_to_end(key)
                return found
        found = read_rows(conn, profile, recs, config)
        with self._lock:
            cache[key] = found
            while len(cache) > self.size:
                cache.popitem(last=False)
        return found


#: The process's cache of stored rows (assemble_context reads through it).
ROW_CACHE = RowCache()


def assemble_context(
    conn: Connection, profile: Any, config: ContextConfig, now: datetime, live: LiveLookup | None = None
) -> CustomerContext:
    """The full context of the customer whose stored profile is `profile` (before the privacy policy).

    With `live`, the shown orders and subscriptions of sources with live lookups on are re-read from the vendor.
    """
    cid = profile.customer_id
    # Explicit record ids (not a subquery): PostgreSQL then plans index lookups instead of hash semi-joins.
    recs = list(conn.execute(select(R.c.id).where(R.c.customer_id == cid).order_by(R.c.id)).scalars())
    synced = _freshness(conn)
    stored = ROW_CACHE.rows(conn, profile, recs, config)
    fields: dict[str, Any] = profile.fields or {}

    def val(name: str) -> Any:
        fv = fields.get(name)
        return None if fv is None else fv.get("value")

    def src(*names: str) -> list[str]:
        return [fields[n]["source"] for n in names if n in fields]

    # Identifiers, grouped by value, with the sources that hold them.
    held: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, value, source in stored.identifiers:
        held[(kind, value)].add(source)
    verified = set(config.verified_sources)
    identifiers = [
        IdentifierInfo(kind=k, value=v, sources=sorted(s), verified=bool(s & verified))
        for (k, v), s in sorted(held.items())
    ]
    identity_sources = src("full_name", "email", "phone", "address")
    identity = Identity(
        meta=_meta(identity_sources, synced),
        name=profile.display_name,
        email=val("email"),
        phone=val("phone"),
        company=val("company"),
        city=val("city"),
        region=val("region"),
        country=val("country"),
        postcode=val("postcode"),
        address=val("address"),
        identifiers=identifiers,
    )

    order_rows = stored.orders
    items: dict[int, list[OrderLine]] = defaultdict(list)
    for row in stored.items:
        line = OrderLine(sku=row.sku, name=row.name, quantity=row.quantity, unit_price=row.unit_price)
        items[row.order_id].append(line)
    same_number: dict[str | None, list[Any]] = defaultdict(list)
    for row in stored.same_number:
        same_number[_order_key(row.order_number)].append(row)
    order_conflicts = {key: _disagreements(rows, _ORDER_FIELDS) for key, rows in same_number.items() if len(rows) > 1}
    orders = Orders(
        meta=_meta(sorted({o.source for o in order_rows}) or config.order_sources, synced),
        total_count=max(profile.order_count, len(order_rows)),
        recent=[
            OrderInfo(
                number=o.order_number,
                source=o.source,
                placed_at=o.placed_at,
                currency=o.currency,
                total=o.total,
                financial_status=o.financial_status,
                fulfillment_status=o.fulfillment_status,
                tracking_numbers=list(o.tracking_numbers or []),
                carrier=o.carrier,
                shipping_address=o.shipping_address,
                items=items.get(o.id, []),
                conflicts=order_conflicts.get(_order_key(o.order_number), []),
            )
            for o in order_rows
        ],
    )

    current_ref = profile.status_source_record_id
    sub_rows = sorted(
        stored.subscriptions,
        key=lambda s: (s.source_record_id != current_ref, -(s.started_at.timestamp() if s.started_at else 0)),
    )
    subscriptions = Subscriptions(
        meta=_meta(sorted({s.source for s in sub_rows}) or config.billing_sources, synced),
        items=[
            SubscriptionInfo(
                ref=s.subscription_ref or s.source_record_id,
                source=s.source,
                plan=s.plan,
                status=s.status,
                interval=s.interval,
                started_at=s.started_at,
                trial_end=s.trial_end,
                current_period_end=s.current_period_end,
                cancel_at=s.cancel_at,
                canceled_at=s.canceled_at,
                mrr=s.mrr,
                currency=s.currency,
                conflicts=_sub_conflicts(s, sub_rows[1:]) if i == 0 else [],
                passed=_passed_dates(s, now),
            )
            for i, s in enumerate(sub_rows)
        ],
    )

    open_statuses = set(config.open_ticket_statuses)
    ticket_rows = stored.tickets
    infos = [
        (
            t.status in open_statuses,
            TicketInfo(
                ref=t.ticket_ref or t.source_record_id,
                source=t.source,
                subject=t.subject,
                status=t.status,
                priority=t.priority,
                channel=t.channel,
                opened_at=t.opened_at,
                updated_at=t.updated_at,
                resolved_at=t.resolved_at,
                last_public_message=t.last_public_message,
            ),
        )
        for t in ticket_rows
    ]
    tickets = Tickets(
        meta=_meta(sorted({t.source for t in ticket_rows}) or config.ticket_sources, synced),
        open=[i for is_open, i in infos if is_open],
        recent_resolved=[i for is_open, i in infos if not is_open][: config.resolved_tickets],
    )

    interaction_rows = stored.interactions
    interactions = Interactions(
        meta=_meta(sorted({i.source for i in interaction_rows}), synced),
        recent=[
            InteractionInfo(
                kind=i.kind,
                source=i.source,
                occurred_at=i.occurred_at,
                url=i.url,
                campaign=i.campaign,
                message=i.message,
            )
            for i in interaction_rows
        ],
    )

    crm = CrmInfo(
        meta=_meta(src("crm_owner", "lifecycle_stage", "deal_stage", "notes") or config.crm_sources, synced),
        owner=val("crm_owner"),
        lifecycle_stage=val("lifecycle_stage"),
        deal_stage=val("deal_stage"),
        notes=val("notes"),
    )
    status = AccountStatus(
        meta=_meta([profile.status_source] if profile.status_source else [], synced),
        status=profile.status,
        cause=profile.status_cause,
        since=profile.status_since,
        plan=profile.plan,
        renewal_at=profile.renewal_at,
        ends_at=profile.ends_at,
        lifetime_value=profile.lifetime_value,
        currency=profile.currency,
        order_count=profile.order_count,
        first_order_at=profile.first_order_at,
        last_order_at=profile.last_order_at,
        open_ticket_count=profile.open_ticket_count,
        passed=_status_passed(profile, now),
    )
    live_gaps = (
        overlay_live(
            conn,
            live=live,
            customer_id=cid,
            orders=list(zip(orders.recent, [o.source_record_id for o in order_rows], strict=True)),
            subscriptions=list(zip(subscriptions.items, [s.source_record_id for s in sub_rows], strict=True)),
            synced=synced,
            now=now,
        )
        if live is not None
        else []
    )
    conflicts = []
    for crow in stored.conflicts:
        values = [f"{v.get('value')} ({v.get('source')} {v.get('source_record_id') or ''})".strip() for v in crow[2]]
        conflicts.append(ConflictInfo(field=crow[0], chosen=crow[1], values=values))
    return CustomerContext(
        customer_id=cid,
        purpose="handoff",  # replaced by apply_policy
        generated_at=now,
        identity=identity,
        status=status,
        subscriptions=subscriptions,
        orders=orders,
        tickets=tickets,
        interactions=interactions,
        crm=crm,
        conflicts=conflicts,
        gaps=_gaps(config, synced, now) + _passed_gaps(subscriptions.items) + live_gaps,
    )
