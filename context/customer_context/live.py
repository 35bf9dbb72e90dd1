"""Live lookups at chat time (federation), as the context assembly sees them: ask, overlay, or say what is stale.

A source configured with `live: [fulfillment]` (or `[subscription]`) has the shown orders' (subscriptions')
status fields re-read from the vendor when a context is built with a `LiveLookup` (context/live/lookup.py does
the fetching, caching and circuit breaking). A value read now replaces the stored one and carries its time; when
the lookup fails the stored value stays, with the time it was last known, and a known gap says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection

from context.customer_context.models import OrderInfo, SubscriptionInfo
from context.dbtypes import table_of

#: The canonical columns each field group overlays, by the entity it belongs to.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "fulfillment": ("fulfillment_status", "tracking_numbers", "carrier"),
    "subscription": ("status", "current_period_end", "cancel_at"),
}
#: What a group is called in a gap ("order #1001 fulfillment").
_GROUP_WORDS = {"fulfillment": "fulfillment and tracking", "subscription": "status"}


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """One object whose field group should be read now."""

    source: str  # the stream (e.g. shopify-orders)
    record_id: str  # the object's id in the source
    group: str  # the field group (fulfillment, subscription)
    customer_id: str  # whose context asked (caches drop it when that customer changes)


@dataclass(frozen=True, slots=True)
class LiveAnswer:
    """The current values of a group (canonical column → value), or why they could not be read."""

    values: Mapping[str, Any] | None
    fetched_at: datetime | None = None
    error: str | None = None


class LiveLookup(Protocol):
    """What the assembly needs from a live lookup service."""

    def groups(self, source: str) -> Sequence[str]:
        """The field groups looked up live for a source (empty: none)."""
        ...

    def lookup(self, requests: Sequence[LiveRequest]) -> dict[LiveRequest, LiveAnswer]:
        """Answers for every request within the lookup's deadline (a failure is an answer with an error)."""
        ...


def age_text(delta: timedelta) -> str:
    """How long ago, in words ("40 minutes ago", "2 hours ago", "3 days ago")."""
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(int(hours * 60), 1)} minutes ago"
    if hours < 48:
        return f"{int(hours)} hours ago"
    return f"{int(hours // 24)} days ago"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stored_as_of(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """When each stored record was last read from its source (its head's fetch time)."""
    if not keys:
        return {}
    # Only a failed live lookup reads the raw store: a context built without one never builds its tables.
    from context.intake.models import RawRecord, RecordHead

    raw, heads = table_of(RawRecord), table_of(RecordHead)
    sources = sorted({s for s, _ in keys})
    ids = sorted({r for _, r in keys})
    rows = conn.execute(
        select(heads.c.source, heads.c.source_record_id, raw.c.fetched_at)
        .select_from(heads.join(raw, raw.c.id == heads.c.raw_record_id))
        .where(heads.c.source.in_(sources), heads.c.source_record_id.in_(ids))
    ).all()
    wanted = set(keys)
    return {(s, r): _aware(at) for s, r, at in rows if at is not None and (s, r) in wanted}


def overlay_live(
    conn: Connection,
    *,
    live: LiveLookup,
    customer_id: str,
    orders: Sequence[tuple[OrderInfo, str]],
    subscriptions: Sequence[tuple[SubscriptionInfo, str]],
    synced: Mapping[str, datetime],
    now: datetime,
) -> list[str]:
    """Replace live-looked-up fields of the shown orders/subscriptions (given with their source ids); the gaps.

    Mutates the infos: a value read now sets `live` and `as_of`; a failed lookup keeps the stored value and
    sets `as_of` to when it was last known (the record's fetch, or the source's last sync if later).
    """
    wanted: list[tuple[OrderInfo | SubscriptionInfo, LiveRequest]] = []
    for kind, shown in (("fulfillment", orders), ("subscription", subscriptions)):
        for info, record_id in shown:
            if kind in live.groups(info.source):
                wanted.append((info, LiveRequest(info.source, record_id, kind, customer_id)))
    if not wanted:
        return []
    answers = live.lookup([r for _, r in wanted])
    failed = [(info, req) for info, req in wanted if (answers.get(req) or LiveAnswer(None)).values is None]
    stored = _stored_as_of(conn, [(r.source, r.record_id) for _, r in failed])
    gaps: list[str] = []
    for info, req in wanted:
        answer = answers.get(req) or LiveAnswer(None, error="no answer")
        if answer.values is not None:
            for column in GROUP_COLUMNS[req.group]:
                if column in answer.values:
                    value = answer.values[column]
                    setattr(info, column, list(value or []) if column == "tracking_numbers" else value)
            info.live, info.as_of = True, answer.fetched_at or now
            continue
        known = [_aware(t) for t in (stored.get((req.source, req.record_id)), synced.get(req.source)) if t is not None]
        info.as_of = max(known) if known else None
        what = f"order {info.number}" if isinstance(info, OrderInfo) else f"subscription {info.ref}"
        when = f"as of {age_text(_aware(now) - info.as_of)}" if info.as_of else "of unknown age"
        gaps.append(
            f"live lookup of {what} {_GROUP_WORDS[req.group]} failed ({req.source}: {answer.error or 'no answer'}); "
            f"shown as stored, {when}"
        )
    return gaps
