"""Webhook receivers: verify the vendor's signature on the raw bytes, store the delivery in the inbox, and say
which stream and object it is about. Processing (intake → identity → profile) is asynchronous: context/live.

Each vendor signs differently; all comparisons are constant-time (`hmac.compare_digest`) and each accepts any
of the configured secrets (two during a rotation). Timestamped schemes refuse deliveries outside their window,
so a captured request cannot be replayed later; a replay inside the window is a duplicate event id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson
from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from context.dbtypes import table_of
from context.errors import WebhookRejected
from context.intake.models import RejectedWebhook, WebhookEvent

log = logging.getLogger(__name__)

STRIPE_TOLERANCE = timedelta(seconds=300)
HUBSPOT_WINDOW = timedelta(minutes=5)
ZENDESK_TOLERANCE = timedelta(minutes=5)
# Headers kept with a delivery (signatures are dropped: they are useless once verified).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-webhook-id",
    "x-shopify-triggered-at",
    "x-shopify-api-version",
    "x-request-id",
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a verified webhook is about."""

    event_id: str
    topic: str
    object_id: str | None
    occurred_at: datetime | None


def _secrets(source: str, secrets: Sequence[SecretStr]) -> list[bytes]:
    if not secrets:
        raise WebhookRejected(source, "no webhook secret configured for this source (settings: webhook_secrets)")
    return [s.get_secret_value().encode("utf-8") for s in secrets]


def _any_match(expected: Sequence[bytes], given: bytes) -> bool:
    # Every secret is compared (no early exit), so timing says nothing about which one matched.
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(candidate, given)
    return matched


def _json(source: str, body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRejected(source, "body is not JSON") from None
    if not isinstance(value, dict):
        raise WebhookRejected(source, "body is not a JSON object")
    return value


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value) / (1000 if value > 1e11 else 1), UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def verify_shopify(
    source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: datetime, url: str = ""
) -> Delivery:
    """X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw body with the app's client secret."""
    given = headers.get("x-shopify-hmac-sha256", "").encode()
    if not given:
        raise WebhookRejected(source, "missing X-Shopify-Hmac-Sha256")
    keys = _secrets(source, secrets)
    expected = [base64.b64encode(hmac.new(k, body, hashlib.sha256).digest()) for k in keys]
    if not _any_match(expected, given):
        raise WebhookRejected(source, "signature does not match (X-Shopify-Hmac-Sha256)")
    payload = _json(source, body)
    topic = headers.get("x-shopify-topic", "")
    event_id = headers.get("x-shopify-webhook-id") or headers.get("x-shopify-event-id")
    if not event_id:
        raise WebhookRejected(source, "missing X-Shopify-Webhook-Id")
    object_id = payload.get("order_id") if topic.startswith("fulfillments/") else payload.get("id")
    occurred = _when(payload.get("updated_at")) or _when(headers.get("x-shopify-triggered-at"))
    return Delivery(event_id, topic, None if object_id is None else str(object_id), occurred)


def verify_stripe(
    source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: datetime, url: str = ""
) -> Delivery:
    """Stripe-Signature `t=…,v1=…`: HMAC-SHA256 of "t.body", t within 300 s of now."""
    # Not the SDK's `stripe.WebhookSignature.verify_header` (stripe 16.1): it takes "now" from the process clock
    # itself (nothing to inject), takes one secret per call, bounds only past timestamps (a future `t` passes),
    # decodes the body as UTF-8 before signing, and would load the SDK (~65 ms CPU) into the server for these ten
    # lines of HMAC.
    header = headers.get("stripe-signature", "")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    if not parts.get("t") or not parts.get("v1"):
        raise WebhookRejected(source, "missing or malformed Stripe-Signature")
    try:
        timestamp = int(parts["t"][0])
    except ValueError:
        raise WebhookRejected(source, "malformed Stripe-Signature timestamp") from None
    if abs(now.timestamp() - timestamp) > STRIPE_TOLERANCE.total_seconds():
        raise WebhookRejected(source, "timestamp outside the 300 s tolerance (replayed or clock skew)")
    signed = parts["t"][0].encode() + b"." + body
    expected = [hmac.new(k, signed, hashlib.sha256).hexdigest().encode() for k in _secrets(source, secrets)]
    if not any(_any_match(expected, v.encode()) for v in parts["v1"]):
        raise WebhookRejected(source, "signature does not match (Stripe-Signature v1)")
    event = _json(source, body)
    obj = (event.get("data") or {}).get("object") or {}
    if not event.get("id"):
        raise WebhookRejected(source, "event has no id")
    return Delivery(str(event["id"]), str(event.get("type", "")), obj.get("id"), _when(event.get("created")))


def verify_zendesk(
    source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: datetime, url: str = ""
) -> Delivery:
    """X-Zendesk-Webhook-Signature: base64 HMAC-SHA256 of "timestamp + body", the timestamp within 5 minutes."""
    given = headers.get("x-zendesk-webhook-signature", "").encode()
    stamp = headers.get("x-zendesk-webhook-signature-timestamp", "")
    if not given or not stamp:
        raise WebhookRejected(source, "missing X-Zendesk-Webhook-Signature or its timestamp")
    signed_at = _when(stamp)
    if signed_at is None:
        raise WebhookRejected(source, "malformed X-Zendesk-Webhook-Signature-Timestamp")
    if abs(now - signed_at) > ZENDESK_TOLERANCE:
        raise WebhookRejected(source, "timestamp outside the 5-minute window (replayed or clock skew)")
    signed = stamp.encode() + body
    expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()) for k in _secrets(source, secrets)]
    if not _any_match(expected, given):
        raise WebhookRejected(source, "signature does not match (X-Zendesk-Webhook-Signature)")
    event = _json(source, body)
    detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
    if not event.get("id"):
        raise WebhookRejected(source, "event has no id")
    object_id = detail.get("id")
    return Delivery(
        str(event["id"]),
        str(event.get("type", "")),
        None if object_id is None else str(object_id),
        _when(event.get("time")) or signed_at,
    )


def verify_hubspot(
    source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: datetime, url: str = ""
) -> list[Delivery]:
    """X-HubSpot-Signature-v3: base64 HMAC-SHA256 of method + URL + body + timestamp, timestamp within 5 minutes.

    A delivery is a JSON array of up to 100 events; each is one inbox row (event id = its `eventId`). An
    `*.associationChange` event names no `objectId`: its object is the `fromObjectId` (the subscribed side).
    """
    given = headers.get("x-hubspot-signature-v3", "").encode()
    stamp = headers.get("x-hubspot-request-timestamp", "")
    if not given or not stamp:
        raise WebhookRejected(source, "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        signed_at = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRejected(source, "malformed X-HubSpot-Request-Timestamp") from None
    if abs(now - signed_at) > HUBSPOT_WINDOW:
        raise WebhookRejected(source, "timestamp outside the 5-minute window (replayed or clock skew)")
    # HubSpot signs the URL with its percent-escapes decoded.
    signed = b"POST" + unquote(url).encode() + body + stamp.encode()
    expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()) for k in _secrets(source, secrets)]
    if not _any_match(expected, given):
        raise WebhookRejected(source, "signature does not match (X-HubSpot-Signature-v3)")
    try:
        events = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRejected(source, "body is not JSON") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) and e.get("eventId") for e in events):
        raise WebhookRejected(source, "body is not a list of events with eventId")
    deliveries = []
    for e in events:
        object_id = e.get("objectId", e.get("fromObjectId"))
        deliveries.append(
            Delivery(
                str(e["eventId"]),
                str(e.get("subscriptionType", "")),
                None if object_id is None else str(object_id),
                _when(e.get("occurredAt")),
            )
        )
    return deliveries


def verify_intercom(
    source: str, body: bytes, headers: Mapping[str, str], secrets: Sequence[SecretStr], now: datetime, url: str = ""
) -> Delivery:
    """X-Hub-Signature `sha1=HEX`: HMAC-SHA1 of the raw body with the app's client secret (no timestamp)."""
    given = headers.get("x-hub-signature", "").encode()
    if not given.startswith(b"sha1="):
        raise WebhookRejected(source, "missing or malformed X-Hub-Signature")
    expected = [b"sha1=" + hmac.new(k, body, hashlib.sha1).hexdigest().encode() for k in _secrets(source, secrets)]
    if not _any_match(expected, given):
        raise WebhookRejected(source, "signature does not match (X-Hub-Signature)")
    event = _json(source, body)
    if not event.get("id"):
        raise WebhookRejected(source, "notification has no id")
    item = (event.get("data") or {}).get("item") or {}
    object_id = item.get("id") if isinstance(item, dict) else None
    return Delivery(
        str(event["id"]),
        str(event.get("topic", "")),
        None if object_id is None else str(object_id),
        _when(event.get("created_at")),
    )


VERIFIERS: dict[str, Callable[..., Delivery | list[Delivery]]] = {
    "intercom": verify_intercom,
    "shopify": verify_shopify,
    "stripe": verify_stripe,
    "zendesk": verify_zendesk,
    "hubspot": verify_hubspot,
}


@dataclass(frozen=True, slots=True)
class Received:
    """A stored delivery: its inbox id, and whether the same event had arrived before.

    A batch (HubSpot) is one row per event: `inbox_id`/`delivery` are the first's, `objects` all the objects
    it is about, and `duplicate` means every event in it had arrived before.
    """

    inbox_id: int | None
    duplicate: bool
    delivery: Delivery
    objects: tuple[str | None, ...] = ()


def receive_webhook(
    *,
    engine: Engine,
    source: str,
    kind: str,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[SecretStr],
    now: datetime,
    remote: str | None = None,
    url: str = "",
) -> Received:
    """Verify a delivery and store it raw in the inbox (before the 2xx); a repeated event id is a duplicate.

    `url` is the URL the vendor posted to (HubSpot signs it). Raises WebhookRejected (after logging it, without
    the body) when the signature or timestamp fails.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    verifier = VERIFIERS.get(kind)
    try:
        if verifier is None:
            raise WebhookRejected(source, f"{kind} sources do not take webhooks")
        verified = verifier(source, body, lowered, secrets, now, url)
    except WebhookRejected as exc:
        with engine.begin() as conn:
            conn.execute(
                insert(RejectedWebhook).values(source=source, reason=exc.reason[:255], remote=remote, received_at=now)
            )
        # The reason only: the body may hold a customer's details, and the sender's address is in the table.
        log.warning("webhook for %s refused: %s", source, exc.reason)
        raise
    deliveries = verified if isinstance(verified, list) else [verified]
    if not deliveries:
        raise WebhookRejected(source, "delivery holds no event")
    kept = {k: lowered[k] for k in KEPT_HEADERS if k in lowered}
    stored = [_store(engine, source, d, body, kept, now) for d in deliveries]
    first_id = stored[0][0]
    return Received(
        first_id,
        all(duplicate for _, duplicate in stored),
        deliveries[0],
        tuple(d.object_id for d in deliveries),
    )


def _store(
    engine: Engine, source: str, delivery: Delivery, body: bytes, kept: dict[str, str], now: datetime
) -> tuple[int | None, bool]:
    """(inbox id, duplicate) of one event, inserted unless its (source, event id) is already there."""
    try:
        with engine.begin() as conn:
            inbox_id = conn.execute(
                insert(WebhookEvent)
                .values(
                    source=source,
                    event_id=delivery.event_id[:255],
                    topic=delivery.topic[:128],
                    object_id=delivery.object_id,
                    occurred_at=delivery.occurred_at,
                    body=body,
                    headers=kept,
                    received_at=now,
                    status="pending",
                    attempts=0,
                )
                .returning(table_of(WebhookEvent).c.id)
            ).scalar_one()
    except IntegrityError:
        with engine.connect() as conn:
            existing = conn.execute(
                select(table_of(WebhookEvent).c.id).where(
                    table_of(WebhookEvent).c.source == source,
                    table_of(WebhookEvent).c.event_id == delivery.event_id[:255],
                )
            ).scalar()
        return existing, True
    return int(inbox_id), False
