"""A fake Zendesk Support API: users and tickets, the cursor-based incremental exports, Basic token auth.

The exports list objects by (updated_at, id) from `start_time` or an opaque cursor, `per_page` at a time, with
`after_cursor` and `end_of_stream` as documented; deleted tickets stay in the export with status `deleted`.
Webhooks are signed as Zendesk signs them: base64 HMAC-SHA256 of "timestamp + body".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from tests.clock import NOW
from tests.context.connectors.fakes.server import FakeServer, Recorded, iso

EMAIL = "agent@candle-shop.example"
TOKEN = "zendesk-api-token-0123456789"
WEBHOOK_SECRET = "zendesk-webhook-secret-0123456789"
KEYS = {"users": "user", "tickets": "ticket"}


def user(n: int, *, email: str | None = None, updated: datetime = NOW, **extra: Any) -> dict[str, Any]:
    """An end user as the API returns it."""
    obj = {
        "id": 9000 + n,
        "url": f"https://candle.zendesk.com/api/v2/users/{9000 + n}.json",
        "name": f"First{n} Last{n}",
        "email": email or f"customer{n}@example.com",
        "phone": None,
        "role": "end-user",
        "active": True,
        "notes": "",
        "created_at": iso(updated - timedelta(days=40)),
        "updated_at": iso(updated),
    }
    obj.update(extra)
    return obj


def ticket(
    n: int, *, requester_n: int, status: str = "open", subject: str | None = None, updated: datetime = NOW
) -> dict[str, Any]:
    """A ticket as the API returns it (its requester as a user id)."""
    return {
        "id": n,
        "url": f"https://candle.zendesk.com/api/v2/tickets/{n}.json",
        "subject": subject or f"Question {n}",
        "raw_subject": subject or f"Question {n}",
        "description": f"Hello, about my order ({n}).",
        "status": status,
        "priority": "normal",
        "requester_id": 9000 + requester_n,
        "via": {"channel": "email"},
        "created_at": iso(updated - timedelta(days=1)),
        "updated_at": iso(updated),
    }


class FakeZendesk(FakeServer):
    """Users and tickets plus the incremental exports."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict[int, dict[str, Any]]] = {"users": {}, "tickets": {}}

    def put(self, kind: str, obj: dict[str, Any]) -> None:
        """Create or replace a user or ticket."""
        with self.lock:
            self.objects[kind][int(obj["id"])] = obj

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one REST request."""
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return 401, {}, {"error": "Couldn't authenticate you"}
        parts = request.path.strip("/").split("/")
        q = {k: v[-1] for k, v in request.query.items()}
        with self.lock:
            if parts[:3] == ["api", "v2", "incremental"] and len(parts) == 5 and parts[4] == "cursor.json":
                kind = parts[3]
                if kind not in self.objects:
                    return 404, {}, {"error": "InvalidEndpoint"}
                return self._export(kind, q)
            if parts[:2] == ["api", "v2"] and len(parts) == 4 and parts[2] in self.objects:
                kind, ident = parts[2], parts[3].removesuffix(".json")
                obj = self.objects[kind].get(int(ident)) if ident.isdigit() else None
                if obj is None or (kind == "tickets" and obj["status"] == "deleted"):
                    return 404, {}, {"error": "RecordNotFound", "description": "Not found"}
                return 200, {}, {KEYS[kind]: obj}
        return 404, {}, {"error": "InvalidEndpoint"}

    def _export(self, kind: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        per_page = int(q.get("per_page", 1000))
        if per_page > 1000:
            return 400, {}, {"error": "InvalidPaginationParameter"}
        ordered = sorted(self.objects[kind].values(), key=lambda o: (o["updated_at"], int(o["id"])))
        if "cursor" in q:
            position = json.loads(base64.b64decode(q["cursor"]))
            ordered = [o for o in ordered if (o["updated_at"], int(o["id"])) > (position["t"], position["id"])]
        elif "start_time" in q:
            since = iso(datetime.fromtimestamp(int(q["start_time"]), NOW.tzinfo))
            ordered = [o for o in ordered if o["updated_at"] >= since]
        else:
            return 400, {}, {"error": "InvalidValue", "description": "start_time or cursor is required"}
        chunk = ordered[:per_page]
        if chunk:
            last = chunk[-1]
            after = base64.b64encode(json.dumps({"t": last["updated_at"], "id": int(last["id"])}).encode()).decode()
        else:
            after = q.get("cursor")  # nothing new: the same cursor again
        return (
            200,
            {},
            {
                kind: chunk,
                "after_cursor": after,
                "before_cursor": None,
                "after_url": None,
                "end_of_stream": len(ordered) <= per_page,
            },
        )

    def webhook(
        self, event_type: str, object_id: int, *, secret: str = WEBHOOK_SECRET, at: datetime = NOW
    ) -> tuple[bytes, dict[str, str]]:
        """An event webhook delivery (`zen:event-type:…`) signed at `at`."""
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": f"zen:event-type:{event_type}",
                "time": iso(at),
                "zendesk_event_version": "2022-11-06",
                "detail": {"id": str(object_id)},
            }
        ).encode()
        stamp = iso(at)
        digest = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
        return body, {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": digest,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
