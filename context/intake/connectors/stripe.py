"""Stripe: customers, subscriptions (`status=all`) and invoices, through Stripe's official SDK (`stripe`).

The first sync lists every object with `starting_after` paging, committing the last id as it goes. It notes
the newest event's time before listing; later syncs read `/v1/events` of the stream's types since then and
apply each object's latest snapshot (`customer.deleted` and `invoice.deleted` become tombstones). Stripe keeps
events for 30 days, so a cursor older than that (by the injected clock) starts a full re-list.

The SDK builds each request (base address, key, API version, parameter encoding such as `created[gte]` and
`types[0]`) through `StripeClient.raw_request`, and sends it through `_ThrottledTransport`, a `stripe.HTTPClient`
over our `VendorHTTP`, with the SDK's own retries off: they sleep with `time.sleep` (not injectable), do not retry
a 429 and ignore `Retry-After`, while `VendorHTTP` shares one throttle per account across streams, honours
`Retry-After` and backs off with injected jitter. `raw_request`, not the typed services (`client.v1.customers.list`):
we store the API's JSON, and building then flattening the SDK's objects costs ~1 ms per object (a sync 5-10 times
slower). This module is imported only when a Stripe source is opened (`connector_class`), never at CLI start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import orjson
import stripe

from context.errors import ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

if TYPE_CHECKING:
    from context.intake.connectors.http import VendorHTTP

DEFAULT_BASE_URL = "https://api.stripe.com"
#: Stripe's event retention is 30 days; a day of margin for clock skew and long syncs.
EVENTS_RETENTION = timedelta(days=29)

# stream -> (list path, list params, event types, deleting event types)
STREAMS: dict[str, tuple[str, dict[str, str], tuple[str, ...], tuple[str, ...]]] = {
    "customers": (
        "/v1/customers",
        {},
        ("customer.created", "customer.updated", "customer.deleted"),
        ("customer.deleted",),
    ),
    "subscriptions": (
        "/v1/subscriptions",
        {"status": "all"},
        (
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "customer.subscription.paused",
            "customer.subscription.resumed",
            "customer.subscription.trial_will_end",
        ),
        (),  # a deleted subscription is a canceled one: its object stays, with status canceled
    ),
    "invoices": (
        "/v1/invoices",
        {},
        (
            "invoice.created",
            "invoice.finalized",
            "invoice.updated",
            "invoice.paid",
            "invoice.payment_failed",
            "invoice.voided",
            "invoice.marked_uncollectible",
            "invoice.deleted",
        ),
        ("invoice.deleted",),
    ),
}


class _ThrottledTransport(stripe.HTTPClient):
    """The SDK's HTTP client interface over `VendorHTTP`: our throttle, retries and errors for its requests."""

    name = "contextdesk"

    def __init__(self, http: VendorHTTP) -> None:
        super().__init__()
        self.http = http

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        """One request as the SDK built it; `VendorHTTP` raises on 4xx and gives up on what it cannot retry."""
        parts = urlsplit(url)  # the SDK's absolute URL on the base address VendorHTTP already has
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.http.request(method.upper(), target, headers=headers, content=post_data)
        return response.text, response.status_code, response.headers

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


class StripeConnector(Connector):
    """One Stripe stream of one account."""

    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "subscription": ("subscription.status", "subscription.current_period_end", "subscription.cancel_at")
    }

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        if source.stream not in STREAMS:
            raise ConnectorError(source.name, f"unknown Stripe stream {source.stream!r} (has {sorted(STREAMS)})")
        self.list_path, self.list_params, self.event_types, self.deleting = STREAMS[source.stream]
        self.page_size = int(source.options.get("page_size", 100))
        base_url = (self.creds.base_url or DEFAULT_BASE_URL).rstrip("/")
        key = self.require_token("a restricted key with read access")
        self.http = connections.http(
            source,
            base_url=base_url,
            headers={},  # the SDK sends the key, its API version and user agent
            auth_hint="check the secret or restricted key (read access to customers, subscriptions, invoices, events)",
        )
        self.client = stripe.StripeClient(
            key, base_addresses={"api": base_url}, http_client=_ThrottledTransport(self.http), max_network_retries=0
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        # Plain dicts, as the raw store keeps them (the SDK's `.data` is parsed into OrderedDicts).
        body = orjson.loads(self.client.raw_request("get", path, **params).body)
        if not isinstance(body, dict):
            raise ConnectorError(self.name, f"GET {path}: expected a JSON object")
        return body

    def _newest_event(self) -> int | None:
        data = self._get("/v1/events", {"limit": 1}).get("data") or []
        return int(data[0]["created"]) if data else None

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """A full list (resumable by its last id) or the events since the cursor."""
        now = int(self.connections.clock().timestamp())
        cursor = dict(cursor or {})
        created = cursor.get("created")
        if cursor.get("phase") == "events" and created is not None:
            if now - int(created) <= EVENTS_RETENTION.total_seconds():
                yield from self._events(int(created))
                return
            cursor = {}  # the events since the cursor are gone: list everything again
        events_from = cursor.get("events_from")
        if events_from is None:
            events_from = self._newest_event() or now
        after = cursor.get("after")
        while True:
            params: dict[str, Any] = {**self.list_params, "limit": self.page_size}
            if after:
                params["starting_after"] = after
            body = self._get(self.list_path, params)
            records = [r for r in body.get("data") or [] if isinstance(r, dict)]
            self._done += len(records)
            has_more = bool(body.get("has_more")) and bool(records)
            if has_more:
                after = records[-1]["id"]
                yield Page(records=records, cursor={"phase": "list", "after": after, "events_from": events_from})
            else:
                yield Page(records=records, cursor={"phase": "events", "created": events_from}, full=True)
                return

    def _events(self, since: int) -> Iterator[Page]:
        """Each object's latest snapshot among the events since `since` (Stripe lists newest first)."""
        latest: dict[str, tuple[int, dict[str, Any], bool]] = {}
        newest = since
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "created": {"gte": since}, "types": list(self.event_types)}
            if after:
                params["starting_after"] = after
            body = self._get("/v1/events", params)
            events = [e for e in body.get("data") or [] if isinstance(e, dict)]
            for event in events:
                obj = (event.get("data") or {}).get("object") or {}
                object_id = obj.get("id")
                if not object_id:
                    continue
                created = int(event.get("created") or 0)
                newest = max(newest, created)
                if object_id not in latest:  # newest first: the first event seen for an object is its latest
                    latest[object_id] = (created, obj, event.get("type") in self.deleting or bool(obj.get("deleted")))
            if not body.get("has_more") or not events:
                break
            after = events[-1]["id"]
        ordered = sorted(latest.items(), key=lambda kv: kv[1][0])
        records = [obj for _, (_, obj, deleted) in ordered if not deleted]
        deleted = [object_id for object_id, (_, _, gone) in ordered if gone]
        self._done += len(records) + len(deleted)
        yield Page(records=records, deleted=deleted, cursor={"phase": "events", "created": newest})

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The object now; None if Stripe says it was deleted or does not know it."""
        try:
            body = self._get(f"{self.list_path}/{object_id}", {})
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        return None if body.get("deleted") else body
