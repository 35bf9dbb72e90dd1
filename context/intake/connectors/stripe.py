"""Stripe: customers, subscriptions (`status=all`) and invoices.

The first sync lists every object with `starting_after` paging, committing the last id as it goes. It notes
the newest event's time before listing; later syncs read `/v1/events` of the stream's types since then and
apply each object's latest snapshot (`customer.deleted` and `invoice.deleted` become tombstones). Stripe keeps
events for 30 days, so a cursor older than that (by the injected clock) starts a full re-list.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

from context.errors import ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

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
        self.http = connections.http(
            source,
            base_url=self.creds.base_url or DEFAULT_BASE_URL,
            headers={"Authorization": f"Bearer {self.require_token('a restricted key with read access')}"},
            auth_hint="check the secret or restricted key (read access to customers, subscriptions, invoices, events)",
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = self.http.request("GET", path, params=params).json()
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
            params: dict[str, Any] = {"limit": 100, "created[gte]": since, "types[]": list(self.event_types)}
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
