"""HubSpot CRM: contacts (lifecycle stage, owner, lead status, deal stage) from the CRM search API.

Incremental by `lastmodifieddate`: each query filters `lastmodifieddate >= cursor`, sorted ascending, 100 (at
most 200) a page with `after` paging. The search API refuses to page past 10,000 results of one query, so
after 10,000 the connector starts a new window from the last record's `lastmodifieddate` (re-reading the
records of that millisecond, which are unchanged and skipped). The cursor is the last committed record's
`lastmodifieddate`. Search is limited to a few requests a second per account; 429s are retried with backoff
and jitter (and `Retry-After` when HubSpot sends one).

Deal stage lives on deals, not contacts: for each page of contacts the connector batch-reads their deal
associations (CRM v4, up to 1,000 contacts a request, following each contact's `after` paging), then the deals
(CRM v3 batch read, 100 a request) and sets `dealstage` to the stage of the most recently modified open deal
(`hs_is_closed` not true), else of the most recently modified closed one; None when the contact has no deals.
`options: {deals: false}` turns this off (a token without `crm.objects.deals.read`). A deal webhook names the
deal: `related` reads its contacts (the reverse v4 association batch read) for them to be re-fetched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
DEAL_PROPERTIES = ("dealstage", "closedate", "hs_lastmodifieddate", "hs_is_closed")
#: Batch limits: v4 association batch read takes 1,000 inputs, object batch read 100.
ASSOCIATION_BATCH = 1_000
DEAL_BATCH = 100


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
        self.with_deals = bool(source.options.get("deals", True))
        self.http = connections.http(
            source,
            base_url=self.creds.base_url or DEFAULT_BASE_URL,
            headers={"Authorization": f"Bearer {self.require_token('a private app access token')}"},
            auth_hint="check the private app's access token and its scopes crm.objects.contacts.read"
            + (" and crm.objects.deals.read" if self.with_deals else ""),
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
                records=self._with_deal_stage([_flat(r) for r in results]),
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
        [record] = self._with_deal_stage([_flat(answer)])
        return record

    def _with_deal_stage(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records with `dealstage` from their associated deals (in batches: a few requests a page)."""
        if not self.with_deals or not records:
            return records
        deal_ids = self._associations("contacts", "deals", [r["id"] for r in records])
        wanted = list(dict.fromkeys(d for ids in deal_ids.values() for d in ids))
        deals: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), DEAL_BATCH):
            body = {
                "properties": list(DEAL_PROPERTIES),
                "inputs": [{"id": d} for d in wanted[start : start + DEAL_BATCH]],
            }
            # 207 (some deals gone since the association was read) still carries the others in `results`.
            for deal in self._batch("/crm/v3/objects/deals/batch/read", body):
                if not deal.get("archived"):
                    deals[str(deal.get("id"))] = deal
        return [
            {**r, "dealstage": _current_stage([deals[d] for d in deal_ids.get(r["id"], []) if d in deals])}
            for r in records
        ]

    def _batch(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The `results` of a batch call (200 or 207; a 207's errors are inputs with nothing to return)."""
        answer = self.http.request("POST", path, json=body).json()
        if not isinstance(answer, dict):
            raise ConnectorError(self.name, f"{path}: expected a JSON object")
        return [r for r in answer.get("results") or [] if isinstance(r, dict)]

    def related(self, kind: str, object_ids: Sequence[str]) -> dict[str, list[str]]:
        """Contact ids by deal id, as associated now (a deal without contacts, or deleted, is left out)."""
        if kind != "deal" or self.object_type != "contacts":
            return super().related(kind, object_ids)
        return self._associations("deals", "contacts", list(dict.fromkeys(object_ids)))

    def _associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Associated ids by id (CRM v4 association batch read; an object without associations is left out)."""
        found: dict[str, list[str]] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        while pending:
            batch, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            for result in self._batch(path, {"inputs": batch}):
                source = str((result.get("from") or {}).get("id"))
                found.setdefault(source, []).extend(
                    str(to["toObjectId"])
                    for to in result.get("to") or []
                    if isinstance(to, dict) and "toObjectId" in to
                )
                following = ((result.get("paging") or {}).get("next") or {}).get("after")
                if following:
                    pending.append({"id": source, "after": str(following)})
        return found


def _current_stage(deals: list[dict[str, Any]]) -> str | None:
    """The stage of the most recently modified open deal, else of the most recently modified closed one."""
    if not deals:
        return None
    open_deals = [d for d in deals if str((d.get("properties") or {}).get("hs_is_closed")).lower() != "true"]

    def modified(deal: dict[str, Any]) -> int:
        value = (deal.get("properties") or {}).get("hs_lastmodifieddate") or deal.get("updatedAt")
        stamp = _epoch_ms(str(value)) if value is not None else "0"
        return int(stamp) if stamp.isdigit() else 0

    latest = max(open_deals or deals, key=modified)
    stage = (latest.get("properties") or {}).get("dealstage")
    return str(stage) if stage is not None else None


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
