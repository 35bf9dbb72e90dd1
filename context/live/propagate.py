"""Webhook processing: inbox → dedupe → newer? → (re-fetch) → intake → identity (incremental) → profile recompute.

Deliveries are claimed from the inbox in arrival order. Shopify's payloads are REST-shaped while the mapping
reads the GraphQL shape, so Shopify objects are always re-fetched (a thin payload); Stripe's event carries the
whole object, applied as is unless a newer version is already stored (a delivery out of order), in which case
the object is re-fetched. A delivery about a related object (a HubSpot deal, whose stage is a fact of its
contacts) re-fetches the objects it belongs to now. Deletions become tombstones. Duplicates never reach here
(the inbox is unique on source + event id), so any order of duplicated, delayed deliveries converges on the
vendor's current state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
#: Re-fetches in flight at once during a pass.
FETCH_THREADS = 4


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
    #: Held while records are written and propagated: the inbox worker and pushes share the cached writers.
    lock: threading.RLock = field(default_factory=threading.RLock)
    _writers: dict[str, RecordWriter] = field(default_factory=dict)
    _connectors: dict[str, Connector] = field(default_factory=dict)
    #: Whether this process has swept the store for orphaned profiles once (see `propagate_writes`).
    _swept: bool = False

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

    def open_connectors(self) -> None:
        """Open every connector stream ahead of the first delivery; one that cannot open fails its rows later."""
        # Building an HTTP client loads the TLS trust store (~50 ms idle, ~0.8 s on a busy machine).
        for source in self.intake.sources:
            if source.connector is not None and source.kind != "push":
                try:
                    self.connector(source)
                except ContextError as exc:
                    log.info("connector %s not opened ahead: %s", source.name, exc)

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


@dataclass(frozen=True, slots=True)
class _Route:
    """Where a topic's object lands: its stream, whether it is a deletion, and the related kind it arrives as."""

    stream: str
    deleting: bool = False
    #: The delivery names a related object (a HubSpot deal): the stream's objects it belongs to are re-fetched.
    via: str | None = None


def _route(kind: str, topic: str) -> _Route | None:
    """The route of a topic, or None when the topic is not about a synced object."""
    if kind == "shopify":
        resource, _, action = topic.partition("/")
        if resource in ("orders", "fulfillments", "fulfillment_events"):
            return _Route("orders", resource == "orders" and action == "delete")
        if resource == "customers" and action in ("create", "update", "delete", "enable", "disable"):
            return _Route("customers", action == "delete")
        return None
    if kind == "stripe":
        if topic.startswith("customer.subscription."):
            return _Route("subscriptions")
        if topic.startswith("customer.") and topic.count(".") == 1:
            return _Route("customers", topic == "customer.deleted")
        if topic.startswith("invoice."):
            return _Route("invoices", topic == "invoice.deleted")
    if kind == "hubspot":
        # contact.creation, contact.propertyChange, contact.deletion, contact.merge, contact.associationChange, …
        resource, _, action = topic.partition(".")
        if resource == "contact":
            return _Route("contacts", action in ("deletion", "privacyDeletion"))
        # A deal's stage is a fact of its contacts: deal.creation, deal.propertyChange, deal.restore, … re-fetch
        # the contacts the deal is associated with now (a deleted deal has none left to read).
        if resource == "deal":
            return _Route("contacts", via="deal")
        return None
    if kind == "intercom":
        # contact.user.created, contact.lead.updated, contact.deleted, contact.user.archived, …
        if topic.startswith("contact."):
            return _Route("contacts", topic in ("contact.deleted", "contact.archived", "contact.user.archived"))
        # conversation.user.created, conversation.user.replied, conversation.admin.closed, conversation.deleted,
        # conversation_part.tag.created, …: the notification's item is the conversation.
        if topic.startswith(("conversation.", "conversation_part.")):
            return _Route("conversations", topic == "conversation.deleted")
        return None
    if kind == "zendesk":
        # Event webhooks: zen:event-type:ticket.status_changed, …:user.deleted; the object is always re-fetched.
        event = topic.removeprefix("zen:event-type:")
        resource, _, action = event.partition(".")
        if resource == "ticket":
            return _Route("tickets", action in ("soft_deleted", "permanently_deleted"))
        if resource == "user":
            return _Route("users", action == "deleted")
    return None


def _claim(engine: Engine, limit: int, now: Any) -> list[Any]:
    """The oldest pending rows, marked `processing` in one statement (a racing processor wins none of them)."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(INBOX.c.id).where(INBOX.c.status == "pending").order_by(INBOX.c.id).limit(limit)
            ).scalars()
        )
    if not ids:
        return []
    with engine.begin() as conn:
        won = set(
            conn.execute(
                update(INBOX)
                .where(INBOX.c.id.in_(ids), INBOX.c.status == "pending")
                .values(status="processing", attempts=INBOX.c.attempts + 1)
                .returning(INBOX.c.id)
            ).scalars()
        )
        rows = conn.execute(select(INBOX).where(INBOX.c.id.in_(sorted(won))).order_by(INBOX.c.id)).all()
    return list(rows)


def _mark(inbox_id: int, status: str, at: Any, error: str | None = None) -> Callable[[Connection], None]:
    return _mark_all([inbox_id], status, at, error)


def _mark_all(ids: Sequence[int], status: str, at: Any, error: str | None = None) -> Callable[[Connection], None]:
    def mark(conn: Connection) -> None:
        if ids:
            conn.execute(
                update(INBOX).where(INBOX.c.id.in_(list(ids))).values(status=status, processed_at=at, error=error)
            )

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


@dataclass(eq=False)
class _Decision:
    """What one delivery does: store `payload` (as is, or as re-fetched) or tombstone the object."""

    row: Any
    target: SourceConfig
    payload: dict[str, Any] | None = None
    deleting: bool = False
    status: str = "applied"
    #: The stream's object this decision is about: the delivery's object, or one its related object belongs to.
    object_id: str = ""
    #: The kind of related object the delivery names (see `_Route.via`); None once resolved to `object_id`.
    via: str | None = None

    def __post_init__(self) -> None:
        self.object_id = self.object_id or str(self.row.object_id)


def _decide(deps: PropagationDeps, rows: Sequence[Any]) -> tuple[list[_Decision], list[int]]:
    """Each row's decision (in arrival order) and the ids of rows about nothing that is synced."""
    decisions: list[_Decision] = []
    ignored: list[int] = []
    # The newest change of each object seen earlier in this pass (those rows are not marked applied yet).
    newest: dict[tuple[str, str], Any] = {}
    for row in rows:
        streams = [s for s in deps.intake.sources if s.connector == row.source]
        kind = streams[0].kind if streams else None
        route = _route(kind or "", row.topic)
        target = next((s for s in streams if route and s.stream == route.stream), None)
        if route is None or target is None or row.object_id is None:
            ignored.append(row.id)
            continue
        decision = _Decision(row, target, deleting=route.deleting, via=route.via)
        key = (row.source, str(row.object_id))
        if not decision.deleting and kind == "stripe":
            event = orjson.loads(row.body)
            obj = (event.get("data") or {}).get("object")
            stored = [
                t
                for t in (
                    _newest_applied(deps.engine, row),
                    stored_as_of(engine=deps.engine, source=target.name, record_id=str(row.object_id)),
                    newest.get(key),
                )
                if t is not None
            ]
            if (
                isinstance(obj, dict)
                and obj.get("id")
                and (row.occurred_at is None or all(row.occurred_at >= t for t in stored))
            ):
                decision.payload = obj
        if row.occurred_at is not None:
            newest[key] = max(newest.get(key, row.occurred_at), row.occurred_at)
        decisions.append(decision)
    return decisions, ignored


def _resolve_related(
    deps: PropagationDeps, decisions: Sequence[_Decision]
) -> tuple[list[_Decision], dict[int, str], list[int]]:
    """Each delivery about a related object (a HubSpot deal) becomes a re-fetch of every object it belongs to.

    Returns the decisions (an unresolved one stays, with its error), errors by inbox id, and the ids of rows
    whose related object belongs to nothing (ignored).
    """
    related = [d for d in decisions if d.via is not None]
    if not related:
        return list(decisions), {}, []
    errors = {d.row.id: msg for d, msg in _open_connectors(deps, related).items()}
    groups: dict[tuple[str, str], list[_Decision]] = {}
    for d in related:
        if d.row.id not in errors and d.via is not None:
            groups.setdefault((d.target.name, d.via), []).append(d)
    owners: dict[str, list[str]] = {}
    for (_, via), group in groups.items():
        try:
            found = deps.connector(group[0].target).related(via, [d.object_id for d in group])
        except ContextError as exc:
            errors.update({d.row.id: str(exc) for d in group})
            continue
        owners.update({f"{group[0].target.name}:{k}": v for k, v in found.items()})
    resolved: list[_Decision] = []
    unowned: list[int] = []
    for d in decisions:
        if d.via is None or d.row.id in errors:
            resolved.append(d)
            continue
        ids = owners.get(f"{d.target.name}:{d.object_id}") or []
        if not ids:
            unowned.append(d.row.id)
        resolved.extend(_Decision(d.row, d.target, object_id=i) for i in dict.fromkeys(ids))
    return resolved, errors, unowned


def _refetch(deps: PropagationDeps, decisions: Sequence[_Decision]) -> dict[int, str]:
    """Fetch the current object of every thin or stale delivery, in bulk per stream; errors by inbox id."""
    wanted = [d for d in decisions if d.payload is None and not d.deleting]
    errors: dict[int, str] = {}
    if not wanted:
        return errors
    errors.update({d.row.id: msg for d, msg in _open_connectors(deps, wanted).items()})
    by_stream: dict[str, list[_Decision]] = {}
    for d in wanted:
        if d.row.id not in errors:
            by_stream.setdefault(d.target.name, []).append(d)

    def fetch(group: list[_Decision]) -> dict[str, dict[str, Any] | None]:
        return deps.connector(group[0].target).fetch_many([d.object_id for d in group])

    # One bulk read per stream (Shopify: `nodes(ids:)`), the streams side by side.
    with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(by_stream) or 1)) as pool:
        futures = [(group, pool.submit(fetch, group)) for group in by_stream.values()]
        for group, future in futures:
            try:
                found = future.result()
            except ContextError as exc:
                errors.update({d.row.id: str(exc) for d in group})
                continue
            for d in group:
                payload = found.get(d.object_id)
                d.payload, d.status, d.deleting = payload, "refetched", payload is None
    return errors


def _open_connectors(deps: PropagationDeps, wanted: Sequence[_Decision]) -> dict[_Decision, str]:
    """Open each stream's connector before the fetch threads share it; a stream that cannot open fails its rows."""
    broken: dict[str, str] = {}
    for d in wanted:
        if d.target.name not in broken:
            try:
                deps.connector(d.target)
            except ContextError as exc:
                broken[d.target.name] = str(exc)
    return {d: broken[d.target.name] for d in wanted if d.target.name in broken}


def _retry_later(deps: PropagationDeps, rows: Sequence[Any], error: str) -> None:
    """Back to pending (retried on the next pass), or `failed` after MAX_ATTEMPTS (a dead letter with its reason)."""
    with deps.engine.begin() as conn:
        for row in rows:
            status = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
            _mark(row.id, status, deps.clock(), error[:2000])(conn)
    for row in rows:
        log.warning("webhook %s/%s not applied: %s", row.source, row.event_id, error)


def process_pending(*, deps: PropagationDeps, limit: int = 500) -> ProcessSummary:
    """Process what is waiting in the inbox, then resolve identities and recompute the affected profiles once.

    One pass stores each stream's objects in one transaction (the rows marked with it); when one object appears
    in several deliveries the last decision in arrival order wins (an older change delivered late was re-fetched,
    so it carries the current state).
    """
    with deps.lock:
        return _process_pending(deps, limit)


def _process_pending(deps: PropagationDeps, limit: int) -> ProcessSummary:
    summary = ProcessSummary()
    rows = _claim(deps.engine, limit, deps.clock())
    summary.claimed = len(rows)
    if not rows:
        return summary
    decisions, ignored = _decide(deps, rows)
    if ignored:
        with deps.engine.begin() as conn:
            _mark_all(ignored, "ignored", deps.clock())(conn)
        summary.ignored = len(ignored)
    decisions, errors, unowned = _resolve_related(deps, decisions)
    if unowned:
        with deps.engine.begin() as conn:
            _mark_all(unowned, "ignored", deps.clock())(conn)
        summary.ignored += len(unowned)
    errors.update(_refetch(deps, [d for d in decisions if d.row.id not in errors]))
    for error in sorted(set(errors.values())):
        failing = {d.row.id: d.row for d in decisions if errors.get(d.row.id) == error}
        _retry_later(deps, list(failing.values()), error)
    summary.failed += len(errors)
    records: list[int] = []
    previous: set[str] = set()
    by_stream: dict[str, list[_Decision]] = {}
    for d in decisions:
        if d.row.id not in errors:
            by_stream.setdefault(d.target.name, []).append(d)
    for group in by_stream.values():
        writer = deps.writer(group[0].target)
        final: dict[str, _Decision] = {}
        for d in group:
            record_id = d.object_id if d.payload is None else (writer.record_id(d.payload) or d.object_id)
            final.pop(record_id, None)
            final[record_id] = d
        now = deps.clock()

        def mark(conn: Connection, group: list[_Decision] = group, now: Any = now) -> None:
            for status in ("applied", "refetched"):
                _mark_all([d.row.id for d in group if d.status == status], status, now)(conn)

        try:
            applied = writer.apply(
                engine=deps.engine,
                payloads=[d.payload for d in final.values() if d.payload is not None and not d.deleting],
                deleted=[r for r, d in final.items() if d.deleting],
                at=now,
                first=mark,
            )
        except ContextError as exc:
            _retry_later(deps, [d.row for d in group], str(exc))
            summary.failed += len(group)
            continue
        records.extend(applied.record_ids)
        previous.update(applied.previous_customers)
        summary.refetched += sum(1 for d in group if d.status == "refetched")
        summary.applied += sum(1 for d in group if d.status == "applied")
    summary.customers = propagate_writes(deps=deps, record_ids=records, previous_customers=previous)
    return summary


def propagate_writes(*, deps: PropagationDeps, record_ids: Sequence[int], previous_customers: set[str]) -> set[str]:
    """After records were written outside a sync: resolve identities, recompute the customers they touched.

    `previous_customers` are those the written records belonged to before (a changed email may move a record
    away). Returns the customers whose profile was recomputed (the `on_change` callbacks get them too).
    """
    if not record_ids and not previous_customers:
        return set()
    now = deps.clock()
    resolved = resolve_pending(engine=deps.engine, rules=deps.rules, now=now)
    # The resolution names the customers it changed (created, merged away, split): recomputing those removes
    # a merged-away profile and adds a new one, so a pass costs what it touched, not the store's size.
    customers = set(previous_customers) | _customers_of(deps.engine, record_ids) | resolved.customers
    # The anti-joins read every profile and customer (~0.1 s a pass on a 100k-customer store, CPU): once per
    # process, to heal what a crash between resolution and recompute left.
    if not deps._swept:
        customers |= _orphans(deps.engine)
        deps._swept = True
    if customers:
        recompute_profiles(engine=deps.engine, config=deps.profiles, now=now, customer_ids=sorted(customers))
    for callback in deps.on_change:
        callback(customers)
    return customers


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
