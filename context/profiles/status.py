"""Account status derivation: trial, active, past_due, former, lead, customer, unknown — always with a cause.

Rules, in order (configurable through the `status:` section, see docs/profiles.md):

1. The customer has a subscription whose status maps to an account status (`subscription_status_map`):
   the subscription deciding is the one whose mapped status comes first in `status_precedence`
   (then the most recently started). trialing → trial, active → active, past_due/unpaid → past_due,
   canceled → former.
2. Otherwise, orders (not voided) → customer.
3. Otherwise, a CRM lifecycle stage in `former_lifecycle_stages` → former.
4. Otherwise, any record at all → lead (a known person who never bought).
5. Otherwise unknown.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from context.profiles.config import StatusConfig
from context.profiles.models import FieldValue

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sub:
    """The subscription fields status derivation reads."""

    source: str
    source_record_id: str
    ref: str | None
    plan: str | None
    status: str | None
    interval: str | None
    started_at: datetime | None
    trial_end: datetime | None
    current_period_end: datetime | None
    cancel_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime | None
    mrr: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class OrderStats:
    """Order aggregates of one customer (voided orders excluded)."""

    count: int = 0
    lifetime_value: Decimal | None = None
    currency: str | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusResult:
    """A derived status and why."""

    status: str
    cause: str
    source: str | None = None
    source_record_id: str | None = None
    since: datetime | None = None
    subscription: Sub | None = None
    renewal_at: datetime | None = None
    ends_at: datetime | None = None


# The business's zone while one status is derived: the dates of its cause are read by people.
_ZONE: ContextVar[tzinfo] = ContextVar("status_zone", default=UTC)


def _d(value: datetime | None) -> str:
    if value is None:
        return "unknown date"
    return (value.astimezone(_ZONE.get()) if value.tzinfo is not None else value).strftime("%Y-%m-%d")


def current_subscription(subs: list[Sub], config: StatusConfig) -> tuple[Sub, str] | None:
    """The subscription that decides the status, with its mapped account status."""
    mapped = [(config.subscription_status_map[s.status], s) for s in subs if s.status in config.subscription_status_map]
    if not mapped:
        return None
    order = {status: i for i, status in enumerate(config.status_precedence)}

    def key(item: tuple[str, Sub]) -> tuple[int, float, str]:
        status, sub = item
        started = (sub.started_at or sub.updated_at or _EPOCH).timestamp()
        return (order.get(status, len(order)), -started, sub.source_record_id)

    status, sub = min(mapped, key=key)
    return sub, status


def _subscription_status(sub: Sub, status: str) -> StatusResult:
    name = f"{sub.source} subscription {sub.ref or sub.source_record_id}"
    plan = f" ({sub.plan}{', ' + sub.interval if sub.interval else ''})" if sub.plan else ""

    def result(status: str, cause: str, **kw: datetime | None) -> StatusResult:
        return StatusResult(
            status, cause, source=sub.source, source_record_id=sub.source_record_id, subscription=sub, **kw
        )

    if status == "trial":
        renewal = None if sub.cancel_at else sub.trial_end
        tail = f"; set to cancel at {_d(sub.cancel_at)}" if sub.cancel_at else ", converts to paid unless cancelled"
        cause = f"{name}{plan} is trialing: trial ends {_d(sub.trial_end)}{tail}"
        return result("trial", cause, since=sub.started_at, renewal_at=renewal, ends_at=sub.cancel_at)
    if status == "active":
        if sub.cancel_at:
            cause = f"{name}{plan} is active, set to cancel at {_d(sub.cancel_at)} (end of the paid period)"
            return result("active", cause, since=sub.started_at, ends_at=sub.cancel_at)
        cause = f"{name}{plan} is active; renews {_d(sub.current_period_end)}"
        return result("active", cause, since=sub.started_at, renewal_at=sub.current_period_end)
    if status == "past_due":
        cause = (
            f"{name}{plan} is {sub.status}: the renewal payment failed "
            f"(status as of {_d(sub.updated_at)}; billing retries before cancelling)"
        )
        return result("past_due", cause, since=sub.updated_at, renewal_at=sub.current_period_end)
    ended = sub.cancel_at or sub.current_period_end
    cause = f"{name}{plan} {sub.status}: canceled_at {_d(sub.canceled_at)}, ended {_d(ended)}"
    return result("former", cause, since=sub.canceled_at or sub.updated_at, ends_at=ended)


def derive_status(
    *,
    subscriptions: list[Sub],
    orders: OrderStats,
    lifecycle: FieldValue | None,
    record_sources: list[str],
    first_seen: datetime | None,
    config: StatusConfig,
) -> StatusResult:
    """Derive the account status of one customer, with the cause in words and the deciding record."""
    token = _ZONE.set(UTC if config.timezone == "UTC" else ZoneInfo(config.timezone))
    try:
        return _derive(subscriptions, orders, lifecycle, record_sources, first_seen, config)
    finally:
        _ZONE.reset(token)


def _derive(
    subscriptions: list[Sub],
    orders: OrderStats,
    lifecycle: FieldValue | None,
    record_sources: list[str],
    first_seen: datetime | None,
    config: StatusConfig,
) -> StatusResult:
    current = current_subscription(subscriptions, config)
    if current is not None:
        return _subscription_status(*current)
    if orders.count:
        where = ", ".join(orders.sources) or "orders"
        cause = (
            f"{orders.count} order{'s' if orders.count != 1 else ''} in {where} "
            f"(first {_d(orders.first_at)}, last {_d(orders.last_at)}); no subscription"
        )
        return StatusResult("customer", cause, since=orders.first_at)
    if lifecycle is not None and lifecycle.value in config.former_lifecycle_stages:
        cause = (
            f"{lifecycle.source} record {lifecycle.source_record_id} lifecycle_stage {lifecycle.value}; "
            "no orders or subscription"
        )
        return StatusResult(
            "former",
            cause,
            source=lifecycle.source,
            source_record_id=lifecycle.source_record_id,
            since=lifecycle.source_updated_at,
        )
    if record_sources:
        cause = f"known from {', '.join(sorted(set(record_sources)))}; no orders or subscriptions"
        return StatusResult("lead", cause, since=first_seen)
    return StatusResult("unknown", "no source records")
