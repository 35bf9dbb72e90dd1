"""A fake paginated JSON API: contacts listed oldest change first, `per_page` at a time, filtered by
`updated_since` (inclusive), with the next page as a link (`links.next`) or as a token (`next_token`).

It checks a bearer token, or a token in the header `X-Api-Key` when built with `header="X-Api-Key"`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.context.connectors.fakes.server import FakeServer, Recorded, iso

TOKEN = "json-api-token-0123456789"


def contact(n: int, *, updated: datetime, email: str | None = None, **extra: Any) -> dict[str, Any]:
    """A contact as the API returns it."""
    obj = {
        "uid": f"c{n}",
        "profile": {"email": email or f"member{n}@example.com", "name": f"Member Number{'ABCDEFGHIJ'[n % 10]}"},
        "modified": iso(updated),
    }
    obj.update(extra)
    return obj


class FakeJsonApi(FakeServer):
    """`GET /api/contacts`: `{"data": [...], "links": {"next": URL}}`, or `{"items": [...], "next_token": T}`."""

    def __init__(self, *, tokens: bool = False, header: str | None = None, per_page: int = 2) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tokens = tokens
        self.header = header
        self.per_page = per_page
        self.next_override: str | None = None  # a next link to answer instead of the real one

    def put(self, obj: dict[str, Any]) -> None:
        """Create or replace a contact."""
        with self.lock:
            self.contacts[obj["uid"]] = obj

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one request."""
        if self.header:
            authorized = request.headers.get(self.header) == TOKEN
        else:
            authorized = request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if not authorized:
            return 401, {}, {"message": "bad token"}
        if request.path != "/api/contacts":
            return 404, {}, {"message": "no such endpoint"}
        since = (request.query.get("updated_since") or [""])[0]
        start = int((request.query.get("page_token" if self.tokens else "page") or ["0"])[0])
        with self.lock:
            listed = sorted(
                (c for c in self.contacts.values() if c["modified"] >= since), key=lambda c: (c["modified"], c["uid"])
            )
        page = listed[start : start + self.per_page]
        more = start + self.per_page < len(listed)
        if self.tokens:
            return 200, {}, {"items": page, "next_token": str(start + self.per_page) if more else None}
        link = f"{self.url}/api/contacts?page={start + self.per_page}" + (f"&updated_since={since}" if since else "")
        return 200, {}, {"data": page, "links": {"next": self.next_override or (link if more else "")}}
