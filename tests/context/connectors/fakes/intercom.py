"""A fake Intercom REST API (2.11): contacts, their search with day-granular `updated_at`, Bearer auth.

Like Intercom, a date search matches whole days: `updated_at > T` finds contacts updated from the day after T's
day, so a contact changed later on the cursor's own day is only found with the connector's day of overlap.
Webhooks are signed as Intercom signs them: `X-Hub-Signature: sha1=HEX(HMAC-SHA1(client secret, body))`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import datetime
from typing import Any

from tests.clock import NOW
from tests.context.connectors.fakes.server import FakeServer, Recorded

TOKEN = "dG9rOmZha2UtaW50ZXJjb20tdG9rZW4="
CLIENT_SECRET = "intercom-client-secret-0123456789"
DAY = 86_400


def contact(n: int, *, email: str | None = None, updated: datetime = NOW, **extra: Any) -> dict[str, Any]:
    """A contact as the API returns it."""
    obj = {
        "type": "contact",
        "id": f"6650{n:06d}",
        "role": "user",
        "email": email or f"customer{n}@example.com",
        "name": f"First{n} Last{n}",
        "phone": None,
        "location": {"type": "location", "city": "Springfield", "region": "Illinois", "country": "United States"},
        "created_at": int(updated.timestamp()) - 40 * DAY,
        "signed_up_at": int(updated.timestamp()) - 40 * DAY,
        "updated_at": int(updated.timestamp()),
    }
    obj.update(extra)
    return obj


class FakeIntercom(FakeServer):
    """Contacts plus the search API."""

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def put(self, obj: dict[str, Any]) -> None:
        """Create or replace a contact."""
        with self.lock:
            self.contacts[obj["id"]] = obj

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one REST request."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return (
                401,
                {},
                {"type": "error.list", "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]},
            )
        with self.lock:
            if request.method == "POST" and request.path == "/contacts/search":
                return self._search(request.body or {})
            if request.method == "GET" and request.path.startswith("/contacts/"):
                obj = self.contacts.get(request.path.removeprefix("/contacts/"))
                if obj is None:
                    return (
                        404,
                        {},
                        {"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]},
                    )
                return 200, {}, obj
        return 404, {}, {"type": "error.list", "errors": [{"code": "not_found"}]}

    def _search(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        query = body.get("query") or {}
        items = sorted(self.contacts.values(), key=lambda c: (c["updated_at"], c["id"]))
        if query.get("field") == "updated_at" and query.get("operator") == ">":
            from_day = (int(query["value"]) // DAY + 1) * DAY  # day-granular, as Intercom's date search
            items = [c for c in items if c["updated_at"] >= from_day]
        pagination = body.get("pagination") or {}
        per_page = int(pagination.get("per_page", 50))
        start = int(pagination.get("starting_after") or 0)
        chunk = items[start : start + per_page]
        pages: dict[str, Any] = {"type": "pages", "per_page": per_page}
        if start + per_page < len(items):
            pages["next"] = {"page": start // per_page + 2, "starting_after": str(start + per_page)}
        return 200, {}, {"type": "list", "data": chunk, "total_count": len(items), "pages": pages}

    def webhook(self, topic: str, object_id: str, *, secret: str = CLIENT_SECRET) -> tuple[bytes, dict[str, str]]:
        """A notification as Intercom sends it, signed."""
        body = json.dumps(
            {
                "type": "notification_event",
                "id": f"notif_{next(self._ids):08d}",
                "topic": topic,
                "created_at": int(NOW.timestamp()),
                "data": {"type": "notification_event_data", "item": {"type": "contact", "id": object_id}},
            }
        ).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"}
