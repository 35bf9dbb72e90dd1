"""A fake Intercom REST API (2.11): contacts and conversations, their search with day-granular `updated_at`,
cursor paging by `pages.next.starting_after`, Bearer auth.

Like Intercom, a date search matches whole days: `updated_at > T` finds objects updated from the day after T's
day, so an object changed later on the cursor's own day is only found with the connector's day of overlap.
Contacts are listed under `data`, conversations under `conversations`, as the API does.
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


def conversation(
    n: int, *, contact_n: int, state: str = "open", title: str | None = None, updated: datetime = NOW
) -> dict[str, Any]:
    """A conversation as the API returns it (its contacts as a contact.list of ids)."""
    at = int(updated.timestamp())
    return {
        "type": "conversation",
        "id": f"{1900 + n}",
        "title": title,
        "created_at": at - DAY,
        "updated_at": at,
        "waiting_since": at if state == "open" else None,
        "snoozed_until": None,
        "open": state != "closed",
        "state": state,
        "read": True,
        "priority": "not_priority",
        "admin_assignee_id": None,
        "team_assignee_id": None,
        "source": {
            "type": "conversation",
            "id": f"40391{n:04d}",
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": f"<p>Hello, about my order ({n}).</p>",
            "author": {"type": "user", "id": f"6650{contact_n:06d}", "name": f"First{contact_n} Last{contact_n}"},
            "attachments": [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": f"6650{contact_n:06d}", "external_id": None}],
        },
        "statistics": {"type": "conversation_statistics", "last_close_at": at if state == "closed" else None},
    }


class FakeIntercom(FakeServer):
    """Contacts and conversations plus their search APIs."""

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def put(self, obj: dict[str, Any]) -> None:
        """Create or replace a contact or (by its `type`) a conversation."""
        with self.lock:
            (self.conversations if obj.get("type") == "conversation" else self.contacts)[obj["id"]] = obj

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one REST request."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return (
                401,
                {},
                {"type": "error.list", "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]},
            )
        with self.lock:
            for prefix, store, key, missing in (
                ("/contacts", self.contacts, "data", "User Not Found"),
                ("/conversations", self.conversations, "conversations", "Resource Not Found"),
            ):
                if request.method == "POST" and request.path == f"{prefix}/search":
                    return self._search(store, key, request.body or {})
                if request.method == "GET" and request.path.startswith(f"{prefix}/"):
                    obj = store.get(request.path.removeprefix(f"{prefix}/"))
                    if obj is None:
                        return (
                            404,
                            {},
                            {"type": "error.list", "errors": [{"code": "not_found", "message": missing}]},
                        )
                    return 200, {}, obj
        return 404, {}, {"type": "error.list", "errors": [{"code": "not_found"}]}

    def _search(
        self, store: dict[str, dict[str, Any]], key: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        query = body.get("query") or {}
        items = sorted(store.values(), key=lambda c: (c["updated_at"], c["id"]))
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
        kind = "conversation.list" if key == "conversations" else "list"
        return 200, {}, {"type": kind, key: chunk, "total_count": len(items), "pages": pages}

    def webhook(self, topic: str, object_id: str, *, secret: str = CLIENT_SECRET) -> tuple[bytes, dict[str, str]]:
        """A notification as Intercom sends it, signed; its item is a conversation for conversation topics."""
        item_type = "conversation" if topic.startswith(("conversation.", "conversation_part.")) else "contact"
        body = json.dumps(
            {
                "type": "notification_event",
                "id": f"notif_{next(self._ids):08d}",
                "topic": topic,
                "created_at": int(NOW.timestamp()),
                "data": {"type": "notification_event_data", "item": {"type": item_type, "id": object_id}},
            }
        ).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"}
