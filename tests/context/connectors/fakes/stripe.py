"""A fake Stripe API: customers, subscriptions, invoices, events; `starting_after` paging, Bearer auth.

Every change made through `put`/`delete` also records an event (newest listed first, like Stripe), with the
time of an injectable clock, so the events stream and its 30-day window behave as documented. Webhooks are
signed as Stripe signs them: `Stripe-Signature: t=TIMESTAMP,v1=HEX(HMAC-SHA256(secret, "t.body"))`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.clock import NOW
from tests.context.connectors.fakes.server import FakeServer, Recorded

TOKEN = "rk_test_fake_0123456789abcdef"
WEBHOOK_SECRET = "whsec_fake_0123456789abcdef0123"

PATHS = {"customers": "customer", "subscriptions": "subscription", "invoices": "invoice"}
EVENT_PREFIX = {"customers": "customer", "subscriptions": "customer.subscription", "invoices": "invoice"}


def customer(n: int, *, email: str | None = None, created: datetime = NOW, **extra: Any) -> dict[str, Any]:
    """A Stripe customer object."""
    obj = {
        "id": f"cus_{n:06d}",
        "object": "customer",
        "email": email or f"customer{n}@example.com",
        "name": f"First{n} Last{n}",
        "phone": None,
        "address": {
            "line1": f"{n} Main St",
            "line2": None,
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "created": int(created.timestamp()) - 86400 * 30,
        "metadata": {},
    }
    obj.update(extra)
    return obj


def subscription(n: int, *, customer_n: int, status: str = "active", created: datetime = NOW) -> dict[str, Any]:
    """A Stripe subscription object (its customer as an id, as lists return it unexpanded)."""
    start = int(created.timestamp()) - 86400 * 10
    return {
        "id": f"sub_{n:06d}",
        "object": "subscription",
        "customer": f"cus_{customer_n:06d}",
        "status": status,
        "start_date": start,
        "created": start,
        "current_period_start": start,
        "current_period_end": start + 86400 * 30,
        "cancel_at": None,
        "canceled_at": None,
        "trial_end": None,
        "currency": "usd",
        "items": {
            "object": "list",
            "data": [{"price": {"nickname": "Pro", "unit_amount": 2900, "recurring": {"interval": "month"}}}],
        },
    }


def _indexed(key: str) -> bool:
    return key.startswith("types[") and key.endswith("]") and key[6:-1].isdigit()


class FakeStripe(FakeServer):
    """Objects by kind plus the event log."""

    def __init__(self, *, clock: Callable[[], datetime] = lambda: NOW) -> None:
        super().__init__()
        self.clock = clock
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in PATHS}
        self.order: dict[str, list[str]] = {k: [] for k in PATHS}  # creation order (lists are newest first)
        self.events: list[dict[str, Any]] = []  # oldest first
        self._ids = itertools.count(1)

    def put(self, kind: str, obj: dict[str, Any], *, event: str | None = None) -> dict[str, Any]:
        """Create or update an object and log its event; returns the event."""
        with self.lock:
            created = obj["id"] not in self.objects[kind]
            self.objects[kind][obj["id"]] = obj
            if created:
                self.order[kind].append(obj["id"])
            return self._event(event or f"{EVENT_PREFIX[kind]}.{'created' if created else 'updated'}", obj)

    def delete(self, kind: str, object_id: str) -> dict[str, Any]:
        """Delete an object (GET then answers `deleted: true`) and log its event."""
        with self.lock:
            self.objects[kind].pop(object_id)
            self.order[kind].remove(object_id)
            return self._event(
                f"{EVENT_PREFIX[kind]}.deleted", {"id": object_id, "object": PATHS[kind], "deleted": True}
            )

    def _event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": f"evt_{next(self._ids):08d}",
            "object": "event",
            "type": event_type,
            "created": int(self.clock().timestamp()),
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        return event

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one REST request."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: rk_****"}}
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "v1":
            return 404, {}, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
        kind = parts[1]
        q = {k: v[-1] for k, v in request.query.items()}
        with self.lock:
            if kind == "events":
                return 200, {}, self._list_events(request.query, q)
            if kind not in PATHS:
                return 404, {}, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
            if len(parts) == 3:
                obj = self.objects[kind].get(parts[2])
                if obj is None:
                    if any(
                        e["data"]["object"]["id"] == parts[2] and e["type"].endswith(".deleted") for e in self.events
                    ):
                        return 200, {}, {"id": parts[2], "object": PATHS[kind], "deleted": True}
                    return (
                        404,
                        {},
                        {"error": {"type": "invalid_request_error", "message": f"No such {PATHS[kind]}: '{parts[2]}'"}},
                    )
                return 200, {}, obj
            items = [self.objects[kind][i] for i in reversed(self.order[kind])]
            if kind == "subscriptions" and q.get("status") != "all":
                # Without status=all Stripe leaves canceled subscriptions out.
                items = [s for s in items if s["status"] != "canceled"]
            return 200, {}, self._page(items, q, f"/v1/{kind}")

    def _page(self, items: list[dict[str, Any]], q: dict[str, str], url: str) -> dict[str, Any]:
        limit = min(int(q.get("limit", 10)), 100)
        start = 0
        if q.get("starting_after"):
            ids = [i["id"] for i in items]
            start = ids.index(q["starting_after"]) + 1
        chunk = items[start : start + limit]
        return {"object": "list", "url": url, "has_more": start + limit < len(items), "data": chunk}

    def _list_events(self, query: dict[str, list[str]], q: dict[str, str]) -> dict[str, Any]:
        events = list(reversed(self.events))
        now = int(self.clock().timestamp())
        events = [e for e in events if now - e["created"] <= 30 * 86400]  # retention
        # Stripe takes an array as `types[]=a&types[]=b` or indexed, `types[0]=a&types[1]=b` (as its SDKs send it).
        indexed = [v for k in sorted(filter(_indexed, query), key=lambda k: int(k[6:-1])) for v in query[k]]
        types = query.get("types[]") or indexed or ([q["type"]] if "type" in q else None)
        if types:
            events = [e for e in events if e["type"] in types]
        if "created[gte]" in q:
            events = [e for e in events if e["created"] >= int(q["created[gte]"])]
        if "created[gt]" in q:
            events = [e for e in events if e["created"] > int(q["created[gt]"])]
        return self._page(events, q, "/v1/events")

    def webhook(
        self, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery of `event`, signed at `at` (default: the fake's clock)."""
        body = json.dumps(event).encode()
        timestamp = int((at or self.clock()).timestamp())
        signed = f"{timestamp}.".encode() + body
        signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"}
