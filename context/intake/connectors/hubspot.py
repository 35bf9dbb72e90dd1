"""HubSpot CRM: contacts (lifecycle stage, owner, lead status) from the CRM search API.

Incremental by `lastmodifieddate`: each query filters `lastmodifieddate >= cursor`, sorted ascending, 100 (at
most 200) a page with `after` paging. The search API refuses to page past 10,000 results of one query, so
after 10,000 the connector starts a new window from the last record's `lastmodifieddate` (re-reading the
records of that millisecond, which are unchanged and skipped). The cursor is the last committed record's
`lastmodifieddate`. Search is limited to a few requests a second per account; 429s are retried with backoff
and jitter (and `Retry-After` when HubSpot sends one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from context.errors import ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

DEFAULT_BASE_URL = "https://api.hubapi.com"
#: The search API's hard limit on `after` within one query.
SEARCH_CAP = 10_000
MAX_PAGE = 200
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "createdate",
    "lastmodifieddate",
)
STREAMS = {"contacts": ("contacts", CONTACT_PROPERTIES)}


class HubSpotConnector(Connector):
    """One HubSpot stream (contacts) of one portal."""

    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        if source.stream not in STREAMS:
            raise ConnectorError(source.name, f"unknown HubSpot stream {source.stream!r} (has {sorted(STREAMS)})")
        self.object_type, default_properties = STREAMS[source.stream]
        extra = [str(p) for p in source.options.get("properties", [])]
        self.properties = list(dict.fromkeys([*default_properties, *extra]))
        self.page_size = min(int(source.options.get("page_size", 100)), MAX_PAGE)
        self.cap = int(source.options.get("search_cap", SEARCH_CAP))  # lower in tests, to see the windowing
        self.http = connections.http(
            source,
            base_url=self.creds.base_url or DEFAULT_BASE_URL,
            headers={"Authorization": f"Bearer {self.require_token('a private app access token')}"},
            auth_hint="check the private app's access token and its scope crm.objects.contacts.read",
        )

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _search(self, since: str | None, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }
        if since is not None:
            body["filterGroups"] = [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": _epoch_ms(since)}]}
            ]
        if after is not None:
            body["after"] = after
        answer = self.http.request("POST", f"/crm/v3/objects/{self.object_type}/search", json=body).json()
        if not isinstance(answer, dict):
            raise ConnectorError(self.name, "search: expected a JSON object")
        return answer

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of objects modified at or after the cursor, oldest first, in windows of at most 10,000."""
        since: str | None = (cursor or {}).get("lastmodifieddate")
        after: str | None = None
        in_window = 0
        while True:
            answer = self._search(since, after)
            results = [r for r in answer.get("results") or [] if isinstance(r, dict)]
            if self._total is None and isinstance(answer.get("total"), int):
                self._total = answer["total"]
            self._done += len(results)
            in_window += len(results)
            last = _modified(results[-1]) if results else None
            yield Page(
                records=[_flat(r) for r in results],
                cursor={"lastmodifieddate": last or since} if (last or since) else None,
            )
            following = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not results or not following:
                return
            if in_window + self.page_size > self.cap:
                # The next page would pass the cap: a new window from the last record's modification time.
                if last is None or last == since:
                    raise ConnectorError(
                        self.name,
                        f"more than {self.cap:,} contacts share lastmodifieddate {since}: the search API cannot "
                        "page past them (sync from a CSV export once, then incrementally)",
                    )
                since, after, in_window = last, None, 0
                continue
            after = str(following)

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The object by id with the synced properties; None if HubSpot no longer has it (404 or archived)."""
        try:
            answer = self.http.request(
                "GET",
                f"/crm/v3/objects/{self.object_type}/{object_id}",
                params={"properties": ",".join(self.properties)},
            ).json()
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(answer, dict) or answer.get("archived"):
            return None
        return _flat(answer)


def _epoch_ms(value: str) -> str:
    """A date filter value as HubSpot takes it: epoch milliseconds (the cursor keeps the ISO form it read)."""
    if value.isdigit():
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return str(int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000))


def _modified(result: dict[str, Any]) -> str | None:
    value = (result.get("properties") or {}).get("lastmodifieddate") or result.get("updatedAt")
    return str(value) if value is not None else None


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    """The object as the mapping reads it: its properties at the top, with the id and timestamps."""
    properties = dict(result.get("properties") or {})
    return {
        **properties,
        "id": str(result.get("id")),
        "createdAt": result.get("createdAt"),
        "updatedAt": result.get("updatedAt"),
    }
