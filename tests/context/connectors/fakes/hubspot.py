"""A fake HubSpot CRM API: contacts, the search endpoint with its 10,000-result cap, deals associated with contacts
(CRM v4 association batch reads both ways with per-object `after` paging, v3 deal batch read), Bearer auth.

Search sorts by `lastmodifieddate`, filters `GTE` on it (epoch ms), pages with `after`, and answers 400 when
`after` would reach past the cap (as HubSpot does); the cap is a constructor argument so a test can see the
connector window past it with a few hundred contacts. Batch reads answer 207 with `errors` for inputs they have
nothing for (a contact without deals, a deleted deal), as HubSpot does. With `burst` (and a clock) the
requests other than search count against a 10-second window: each answer carries HubSpot's
`X-HubSpot-RateLimit-*` headers and a request past the window's budget gets HubSpot's 429. Webhooks are signed
as HubSpot signs v3 requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.clock import NOW
from tests.context.connectors.fakes.server import FakeServer, Recorded

TOKEN = "pat-na1-fake-0123456789"
CLIENT_SECRET = "hubspot-client-secret-0123456789"
#: HubSpot's burst window.
WINDOW_S = 10.0


def ms(at: datetime) -> int:
    """Epoch milliseconds."""
    return int(at.timestamp() * 1000)


def hs_time(at: datetime) -> str:
    """HubSpot's datetime property format."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def contact(n: int, *, email: str | None = None, updated: datetime = NOW, **properties: Any) -> dict[str, Any]:
    """A contact as search and GET return it."""
    props = {
        "email": email or f"customer{n}@example.com",
        "firstname": f"First{n}",
        "lastname": f"Last{n}",
        "phone": None,
        "company": "Candle Co",
        "lifecyclestage": "customer",
        "hubspot_owner_id": "77",
        "createdate": hs_time(updated - timedelta(days=90)),
        "lastmodifieddate": hs_time(updated),
        "hs_object_id": str(500 + n),
    }
    props.update(properties)
    return {
        "id": str(500 + n),
        "properties": props,
        "createdAt": props["createdate"],
        "updatedAt": props["lastmodifieddate"],
        "archived": False,
    }


def deal(n: int, *, stage: str, updated: datetime = NOW, closed: bool = False) -> dict[str, Any]:
    """A deal as the batch read returns it (all its properties; the fake answers only those asked for)."""
    props = {
        "dealname": f"Deal {n}",
        "dealstage": stage,
        "pipeline": "default",
        "closedate": hs_time(updated + timedelta(days=30)),
        "createdate": hs_time(updated - timedelta(days=10)),
        "hs_lastmodifieddate": hs_time(updated),
        "hs_is_closed": "true" if closed else "false",
        "hs_object_id": str(9000 + n),
    }
    return {
        "id": str(9000 + n),
        "properties": props,
        "createdAt": props["createdate"],
        "updatedAt": props["hs_lastmodifieddate"],
        "archived": False,
    }


class FakeHubSpot(FakeServer):
    """Contacts plus the search API, and deals associated with contacts."""

    def __init__(
        self,
        *,
        cap: int = 10_000,
        association_page: int = 500,
        burst: int | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        # HubSpot's burst limit: `burst` requests a 10-second window (search is limited apart, without headers).
        self.burst, self.monotonic = burst, monotonic
        self._window: tuple[float, int] = (0.0, 0)
        self.rate_limited = 0
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.deals_of: dict[str, list[str]] = {}  # contact id -> associated deal ids
        self.association_page = association_page
        self.cap = cap
        self.refused_past_cap = 0
        self._events = itertools.count(1)

    def put(self, obj: dict[str, Any]) -> None:
        """Create or replace a contact."""
        with self.lock:
            self.contacts[obj["id"]] = obj

    def put_deal(self, obj: dict[str, Any], *contact_ids: str) -> None:
        """Create or replace a deal associated with these contacts."""
        with self.lock:
            self.deals[obj["id"]] = obj
            for contact_id in contact_ids:
                if obj["id"] not in self.deals_of.setdefault(contact_id, []):
                    self.deals_of[contact_id].append(obj["id"])

    def archive(self, object_id: str) -> None:
        """Delete a contact (GET then answers 404)."""
        with self.lock:
            self.contacts.pop(object_id, None)

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one CRM request."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return (
                401,
                {},
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                },
            )
        with self.lock:
            if request.method == "POST" and request.path == "/crm/v3/objects/contacts/search":
                return self._search(request.body or {})
            limited = self._count()
            if limited is not None and limited[0] == 429:
                return limited
            status, headers, body = self._route(request)
            return status, {**headers, **(limited[1] if limited else {})}, body

    def _count(self) -> tuple[int, dict[str, str], Any] | None:
        """Count a request against the burst window: its headers, or a 429 once the window is spent."""
        if self.burst is None or self.monotonic is None:
            return None
        now = self.monotonic()
        start, used = self._window
        if now - start >= WINDOW_S:
            start, used = now, 0
        used += 1
        self._window = (start, used)
        headers = {
            "X-HubSpot-RateLimit-Max": str(self.burst),
            "X-HubSpot-RateLimit-Remaining": str(max(self.burst - used, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_S * 1000)),
        }
        if used > self.burst:
            self.rate_limited += 1
            body = {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "SECONDLY",
            }
            return 429, headers, body
        return 200, headers, None

    def _route(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """The answer of a request other than search."""
        with self.lock:
            if request.method == "POST" and request.path == "/crm/v4/associations/contacts/deals/batch/read":
                return self._associations(request.body or {}, self.deals_of, "contact", "deals")
            if request.method == "POST" and request.path == "/crm/v4/associations/deals/contacts/batch/read":
                contacts_of: dict[str, list[str]] = {}
                for contact_id, deal_ids in self.deals_of.items():
                    for deal_id in deal_ids:
                        contacts_of.setdefault(deal_id, []).append(contact_id)
                return self._associations(request.body or {}, contacts_of, "deal", "contacts")
            if request.method == "POST" and request.path == "/crm/v3/objects/deals/batch/read":
                return self._read_deals(request.body or {})
            prefix = "/crm/v3/objects/contacts/"
            if request.method == "GET" and request.path.startswith(prefix):
                obj = self.contacts.get(request.path.removeprefix(prefix))
                if obj is None:
                    return 404, {}, {"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND"}
                return 200, {}, obj
        return 404, {}, {"status": "error", "message": "not found"}

    def _search(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        limit = int(body.get("limit", 10))
        if limit > 200:
            return 400, {}, {"status": "error", "message": "limit must be at most 200", "category": "VALIDATION_ERROR"}
        after = int(body.get("after") or 0)
        if after + limit > self.cap:
            self.refused_past_cap += 1
            return (
                400,
                {},
                {"status": "error", "message": f"Cannot page past {self.cap} results", "category": "VALIDATION_ERROR"},
            )
        items = sorted(self.contacts.values(), key=lambda c: (c["properties"]["lastmodifieddate"], int(c["id"])))
        for group in body.get("filterGroups") or []:
            for f in group.get("filters") or []:
                if f.get("propertyName") == "lastmodifieddate" and f.get("operator") == "GTE":
                    since = int(f["value"])
                    items = [
                        c
                        for c in items
                        if ms(datetime.fromisoformat(c["properties"]["lastmodifieddate"].replace("Z", "+00:00")))
                        >= since
                    ]
        chunk = items[after : after + limit]
        answer: dict[str, Any] = {"total": len(items), "results": chunk}
        if after + limit < len(items):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return 200, {}, answer

    def _associations(
        self, body: dict[str, Any], index: dict[str, list[str]], from_name: str, to_name: str
    ) -> tuple[int, dict[str, str], Any]:
        inputs = body.get("inputs") or []
        if len(inputs) > 1000:
            return 400, {}, {"status": "error", "message": "at most 1000 inputs", "category": "VALIDATION_ERROR"}
        results, errors = [], []
        for item in inputs:
            from_id, after = str(item["id"]), int(item.get("after") or 0)
            ids = index.get(from_id, [])
            if not ids:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {to_name} are associated with {from_name} {from_id}",
                        "context": {"fromObjectId": [from_id]},
                    }
                )
                continue
            chunk = ids[after : after + self.association_page]
            result: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": int(d),
                        # HubSpot's defined types: 4 contact → deal, 3 deal → contact.
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 4 if from_name == "contact" else 3, "label": None}
                        ],
                    }
                    for d in chunk
                ],
            }
            if after + self.association_page < len(ids):
                result["paging"] = {"next": {"after": str(after + self.association_page), "link": None}}
            results.append(result)
        return self._batch_answer(results, errors)

    def _read_deals(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return 400, {}, {"status": "error", "message": "at most 100 inputs", "category": "VALIDATION_ERROR"}
        asked = set(body.get("properties") or [])
        results, missing = [], []
        for item in inputs:
            found = self.deals.get(str(item["id"]))
            if found is None:
                missing.append(str(item["id"]))
                continue
            props = {k: v for k, v in found["properties"].items() if k in asked or k == "hs_object_id"}
            results.append({**found, "properties": props})
        errors = (
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some DEAL objects",
                    "context": {"ids": missing},
                }
            ]
            if missing
            else []
        )
        return self._batch_answer(results, errors)

    @staticmethod
    def _batch_answer(results: list[Any], errors: list[Any]) -> tuple[int, dict[str, str], Any]:
        stamp = hs_time(NOW)
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if errors:
            answer |= {"numErrors": len(errors), "errors": errors}
        return (207 if errors else 200), {}, answer

    def webhook(
        self, url: str, events: list[dict[str, Any]], *, secret: str = CLIENT_SECRET, at: datetime = NOW
    ) -> tuple[bytes, dict[str, str]]:
        """A v3-signed delivery of these events to `url`."""
        body = json.dumps(events).encode()
        stamp = str(ms(at))
        signed = b"POST" + url.encode() + body + stamp.encode()
        digest = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
        return body, {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": digest,
            "X-HubSpot-Request-Timestamp": stamp,
        }

    def event(self, object_id: str, kind: str = "contact.propertyChange", at: datetime = NOW) -> dict[str, Any]:
        """One webhook event about a contact (or, by `kind`, a deal)."""
        return {
            "eventId": next(self._events) + 1000,
            "subscriptionId": 42,
            "portalId": 123,
            "occurredAt": ms(at),
            "subscriptionType": kind,
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": "CRM",
        }

    def association_event(
        self, from_id: str, to_id: str, *, kind: str = "contact.associationChange", at: datetime = NOW
    ) -> dict[str, Any]:
        """An association change as HubSpot sends it: no `objectId`, the subscribed side is `fromObjectId`."""
        return {
            "eventId": next(self._events) + 1000,
            "subscriptionId": 43,
            "portalId": 123,
            "occurredAt": ms(at),
            "subscriptionType": kind,
            "attemptNumber": 0,
            "changeSource": "USER",
            "associationType": "CONTACT_TO_DEAL" if kind.startswith("contact.") else "DEAL_TO_CONTACT",
            "fromObjectId": int(from_id),
            "toObjectId": int(to_id),
            "associationRemoved": False,
            "isPrimaryAssociation": False,
        }
