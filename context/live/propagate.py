"""Webhook processing: inbox → dedupe → newer? → (re-fetch) → intake → identity (incremental) → profile recompute.

Deliveries are claimed from the inbox in arrival order. Shopify's payloads are REST-shaped while the mapping
reads the GraphQL shape, so Shopify objects are always re-fetched (a thin payload); Stripe's event carries the
whole object, applied as is unless a newer version is already stored (a delivery out of order), in which case
the object is re-fetched. Deletions become tombstones. Duplicates never reach here (the inbox is unique on
source + event id), so any order of duplicated, delayed deliveries converges on the vendor's current state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from context.canonical.models import Customer, CustomerRecord
from context.dbtypes import Clock, table_of
from context.errors import ContextError
from context.identity.rules import IdentityRules
from context.identity.service import resolve_pending
from context.intake.config import IntakeConfig, SourceConfig
from context.intake.connectors import Connections, Connector, open_connector
from context.intake.models import WebhookEvent
from context.intake.service import RecordWriter, stored_as_of
from context.profiles.config import ProfilesConfig
from context.profiles.models import CustomerProfile
from context.profiles.service import recompute_profiles

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


INBOX, RECORDS, CUSTOMERS, PROFILES = (
    table_of(WebhookEvent),
    table_of(CustomerRecord),
    table_of(Customer),
    table_of(CustomerProfile),
)


@dataclass
class PropagationDeps:
    """What processing needs: the store, the config, identity rules, vendor connections and a clock."""

    engine: Engine
    intake: IntakeConfig
    profiles: ProfilesConfig
    rules: IdentityRules
    connections: Connections
    clock: Clock
    # Called with the customers whose profile was recomputed (live lookup caches drop them).
    on_change: list[Callable[[set[str]], None]] = field(default_factory=list)
    _writers: dict[str, RecordWriter] = field(default_factory=dict)
    _connectors: dict[str, Connector] = field(default_factory=dict)

    def writer(self, source: SourceConfig) -> RecordWriter:
        """The cached record writer of a stream."""
        if source.name not in self._writers:
            self._writers[source.name] = RecordWriter(self.intake, source, self.engine.dialect.name)
        return self._writers[source.name]

    def connector(self, source: SourceConfig) -> Connector:
        """The cached connector of a stream (its HTTP pool is reused across deliveries)."""
        if source.name not in self._connectors:
            self._connectors[source.name] = open_connector(source, self.connections)
        return self._connectors[source.name]

    def close(self) -> None:
        """Release the connectors' connections."""
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()


@dataclass
class ProcessSummary:
    """What one pass over the inbox did."""

    claimed: int = 0
    applied: int = 0
    refetched: int = 0
    ignored: int = 0
    failed: int = 0
    customers: set[str] = field(default_factory=set)


def _route(kind: str, topic: str) -> tuple[str, bool] | None:
    """(stream, is a deletion) of a topic, or None when the topic is not about a synced object."""
    if kind == "shopify":
        resource, _, action = topic.partition("/")
        if resource in ("orders", "fulfillments", "fulfillment_events"):
            return "orders", resource == "orders" and action == "delete"
        if resource == "customers":
            return (
                ("customers", action == "delete")
                if action in ("create", "update", "delete", "enable", "disable")
                else None
            )
        return None
    if kind == "stripe":
        if topic.startswith("customer.subscription."):
            return "subscriptions", False
        if topic.startswith("customer.") and topic.count(".") == 1:
            return "customers", topic == "customer.deleted"
        if topic.startswith("invoice."):
            return "invoices", topic == "invoice.deleted"
    if kind == "hubspot":
        # contact.creation, contact.propertyChange, contact.deletion, contact.merge, contact.restore, …
        resource, _, action = topic.partition(".")
        if resource == "contact":
            return "contacts", action in ("deletion", "privacyDeletion")
        return None
    if kind == "zendesk":
        # Event webhooks: zen:event-type:ticket.status_changed, …:user.deleted; the object is always re-fetched.
        event = topic.removeprefix("zen:event-type:")
        resource, _, action = event.partition(".")
        if resource == "ticket":
            return "tickets", action in ("soft_deleted", "permanently_deleted")
        if resource == "user":
            return "users", action == "deleted"
    return None


def _claim(engine: Engine, limit: int, now: Any) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(INBOX).where(INBOX.c.status == "pending").order_by(INBOX.c.id).limit(limit)).all()
    claimed = []
    for row in rows:
        # Another processor (the server's thread, a `contextdesk worker`) may race for the same row.
        with engine.begin() as conn:
            won = conn.execute(
                update(INBOX)
                .where(INBOX.c.id == row.id, INBOX.c.status == "pending")
                .values(status="processing", attempts=INBOX.c.attempts + 1)
            ).rowcount
        if won:
            claimed.append(row)
    return claimed


def _mark(inbox_id: int, status: str, at: Any, error: str | None = None) -> Callable[[Connection], None]:
    def mark(conn: Connection) -> None:
        conn.execute(update(INBOX).where(INBOX.c.id == inbox_id).values(status=status, processed_at=at, error=error))

    return mark


def _newest_applied(engine: Engine, row: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(func.max(INBOX.c.occurred_at)).where(
                INBOX.c.source == row.source,
                INBOX.c.object_id == row.object_id,
                INBOX.c.status.in_(("applied", "refetched")),
                INBOX.c.id != row.id,
            )
        ).scalar()


def _process_one(deps: PropagationDeps, row: Any, records: list[int], previous: set[str]) -> str:
    streams = [s for s in deps.intake.sources if s.connector == row.source]
    kind = streams[0].kind if streams else None
    route = _route(kind or "", row.topic)
    target = next((s for s in streams if route and s.stream == route[0]), None)
    now = deps.clock()
    if route is None or target is None or row.object_id is None:
        with deps.engine.begin() as conn:
            _mark(row.id, "ignored", now)(conn)
        return "ignored"
    deleting = route[1]
    writer = deps.writer(target)
    payload: dict[str, Any] | None = None
    status = "applied"
    if not deleting and kind == "stripe":
        event = orjson.loads(row.body)
        obj = (event.get("data") or {}).get("object")
        stored = [
            t
            for t in (
                _newest_applied(deps.engine, row),
                stored_as_of(engine=deps.engine, source=target.name, record_id=str(row.object_id)),
            )
            if t is not None
        ]
        if (
            isinstance(obj, dict)
            and obj.get("id")
            and (row.occurred_at is None or all(row.occurred_at >= t for t in stored))
        ):
            payload = obj
    if payload is None and not deleting:
        # Thin (Shopify's REST shape), stale (a newer version is stored) or without its object: ask the vendor.
        payload = deps.connector(target).fetch(str(row.object_id))
        status = "refetched"
        deleting = payload is None
    record_id = str(row.object_id) if payload is None else (writer.record_id(payload) or str(row.object_id))
    applied = writer.apply(
        engine=deps.engine,
        payloads=[payload] if payload is not None else [],
        deleted=[record_id] if deleting else [],
        at=now,
        first=_mark(row.id, status, now),
    )
    records.extend(applied.record_ids)
    previous.update(applied.previous_customers)
    return status


def process_pending(*, deps: PropagationDeps, limit: int = 500) -> ProcessSummary:
    """Process what is waiting in the inbox, then resolve identities and recompute the affected profiles once."""
    summary = ProcessSummary()
    rows = _claim(deps.engine, limit, deps.clock())
    summary.claimed = len(rows)
    if not rows:
        return summary
    records: list[int] = []
    previous: set[str] = set()
    for row in rows:
        try:
            outcome = _process_one(deps, row, records, previous)
        except ContextError as exc:
            # Retried on the next pass; after MAX_ATTEMPTS it stays `failed` (a dead letter with its reason).
            status = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
            with deps.engine.begin() as conn:
                _mark(row.id, status, deps.clock(), str(exc)[:2000])(conn)
            log.warning("webhook %s/%s not applied: %s", row.source, row.event_id, exc)
            summary.failed += 1
            continue
        if outcome == "ignored":
            summary.ignored += 1
        elif outcome == "refetched":
            summary.refetched += 1
        else:
            summary.applied += 1
    if records or previous:
        now = deps.clock()
        resolve_pending(engine=deps.engine, rules=deps.rules, now=now)
        customers = set(previous) | _customers_of(deps.engine, records) | _orphans(deps.engine)
        if customers:
            recompute_profiles(engine=deps.engine, config=deps.profiles, now=now, customer_ids=sorted(customers))
        summary.customers = customers
        for callback in deps.on_change:
            callback(customers)
    return summary


def _customers_of(engine: Engine, record_ids: Sequence[int]) -> set[str]:
    if not record_ids:
        return set()
    with engine.connect() as conn:
        return {
            c
            for c in conn.execute(select(RECORDS.c.customer_id).where(RECORDS.c.id.in_(list(record_ids)))).scalars()
            if c
        }


def _orphans(engine: Engine) -> set[str]:
    """Customers a merge or split left with a stale profile or none (both cheap anti-joins)."""
    with engine.connect() as conn:
        gone = conn.execute(
            select(PROFILES.c.customer_id).where(PROFILES.c.customer_id.not_in(select(CUSTOMERS.c.id)))
        ).scalars()
        missing = conn.execute(
            select(CUSTOMERS.c.id).where(CUSTOMERS.c.id.not_in(select(PROFILES.c.customer_id)))
        ).scalars()
        return set(gone) | set(missing)
