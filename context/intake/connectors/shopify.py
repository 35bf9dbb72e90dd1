"""Shopify: customers and orders (with fulfillments and tracking) from the GraphQL Admin API.

Incremental by `updated_at`: each page is queried with `updated_at:>='CURSOR'` sorted by `UPDATED_AT`, and the
cursor committed after a page is its last record's `updatedAt` (>= re-reads the boundary records, which are
unchanged and cost one lookup each). Throttling follows `extensions.cost.throttleStatus`: before a page the
connector waits until the bucket holds the page's cost, and a THROTTLED error waits for the restore rate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import httpx
import orjson

from context.errors import ConnectorError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page

API_VERSION = "2025-01"

_ADDRESS = "address1 address2 city provinceCode zip countryCodeV2 company phone firstName lastName"
CUSTOMER_FIELDS = f"""
id legacyResourceId email phone firstName lastName state note tags createdAt updatedAt
defaultAddress {{ {_ADDRESS} }}
"""
ORDER_FIELDS = f"""
id legacyResourceId name email phone createdAt updatedAt cancelledAt closed
displayFinancialStatus displayFulfillmentStatus currencyCode
subtotalPriceSet {{ shopMoney {{ amount currencyCode }} }}
totalPriceSet {{ shopMoney {{ amount currencyCode }} }}
customer {{ id legacyResourceId email phone firstName lastName }}
shippingAddress {{ {_ADDRESS} }}
lineItems(first: 20) {{ nodes {{ sku title quantity originalUnitPriceSet {{ shopMoney {{ amount }} }} }} }}
fulfillments(first: 5) {{ status displayStatus createdAt updatedAt trackingInfo(first: 5) {{ number company url }} }}
"""
STREAMS = {"customers": ("customers", "Customer", CUSTOMER_FIELDS), "orders": ("orders", "Order", ORDER_FIELDS)}
# Shopify caps one query at 1,000 cost points; an order with its lines and fulfillments costs ~12.
PAGE_SIZES = {"customers": 250, "orders": 50}


def list_query(connection: str, fields: str) -> str:
    """The paging query of one stream."""
    return (
        "query($first: Int!, $after: String, $query: String) { "
        f"{connection}(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) "
        f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {fields} }} }} }}"
    )


class ShopifyConnector(Connector):
    """One Shopify stream (customers or orders) of one store."""

    live_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "fulfillment": ("order.fulfillment_status", "order.tracking_numbers", "order.carrier")
    }

    def __init__(self, source: SourceConfig, connections: Connections) -> None:
        super().__init__(source, connections)
        if source.stream not in STREAMS:
            raise ConnectorError(source.name, f"unknown Shopify stream {source.stream!r} (has {sorted(STREAMS)})")
        self.connection, self.type_name, self.fields = STREAMS[source.stream]
        if not self.creds.base_url:
            raise ConnectorError(
                source.name,
                f'no store address: set CONTEXTDESK_SOURCES=\'{{"{source.connector_name}": '
                '{"base_url": "https://STORE.myshopify.com", "token": "shpat_…"}}\'',
            )
        version = str(source.options.get("api_version", API_VERSION))
        self.page_size = int(source.options.get("page_size", PAGE_SIZES[source.stream]))
        self.path = f"/admin/api/{version}/graphql.json"
        self.http = connections.http(
            source,
            base_url=self.creds.base_url,
            headers={"X-Shopify-Access-Token": self.require_token("an Admin API access token")},
            auth_hint="check the Admin API access token and its scopes (read_customers, read_orders)",
        )
        # What the last page cost, to wait for the bucket before the next one (first page: a guess).
        self._expected_cost = float(self.page_size) * 2

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def _throttled(self, response: httpx.Response) -> float | None:
        body = _json(response)
        errors = body.get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
            cost = (body.get("extensions") or {}).get("cost") or {}
            status = cost.get("throttleStatus") or {}
            restore = float(status.get("restoreRate") or 50.0)
            needed = float(cost.get("requestedQueryCost") or self._expected_cost)
            available = float(status.get("currentlyAvailable") or 0.0)
            return max((needed - available) / restore, 1.0 / restore)
        return None

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one query; throttle from its cost, raise on GraphQL errors naming the source."""
        response = self.http.request(
            "POST", self.path, json={"query": query, "variables": variables}, retry_when=self._throttled
        )
        body = _json(response)
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if status:
            actual = float(cost.get("actualQueryCost") or cost.get("requestedQueryCost") or 0)
            self._expected_cost = max(actual, float(cost.get("requestedQueryCost") or 0))
            self.http.throttle.observe_cost(
                available=float(status.get("currentlyAvailable", 0)),
                restore_rate=float(status.get("restoreRate", 50)),
                needed=self._expected_cost,
            )
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"] if isinstance(e, dict))
            raise ConnectorError(self.name, f"GraphQL error: {messages}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of records updated at or after the cursor, oldest first."""
        since = (cursor or {}).get("updated_at")
        query = f"updated_at:>='{since}'" if since else None
        after: str | None = None
        query_text = list_query(self.connection, self.fields)
        while True:
            data = self.graphql(query_text, {"first": self.page_size, "after": after, "query": query})
            connection = data.get(self.connection) or {}
            nodes: list[dict[str, Any]] = list(connection.get("nodes") or [])
            self._done += len(nodes)
            page_info = connection.get("pageInfo") or {}
            last = nodes[-1].get("updatedAt") if nodes else None
            yield Page(records=nodes, cursor={"updated_at": last or since} if (last or since) else None)
            if not page_info.get("hasNextPage") or not nodes:
                return
            after = page_info.get("endCursor")

    def _gid(self, object_id: str) -> str:
        return object_id if object_id.startswith("gid://") else f"gid://shopify/{self.type_name}/{object_id}"

    def fetch_many(self, object_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Many objects in one `nodes(ids:)` query per page-sized chunk (webhook bursts re-fetch in bulk)."""
        ids = list(dict.fromkeys(object_ids))
        out: dict[str, dict[str, Any] | None] = {}
        query = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {self.type_name} {{ {self.fields} }} }} }}"
        for start in range(0, len(ids), self.page_size):
            chunk = ids[start : start + self.page_size]
            nodes = self.graphql(query, {"ids": [self._gid(i) for i in chunk]}).get("nodes") or []
            if len(nodes) != len(chunk):
                raise ConnectorError(self.name, f"nodes query answered {len(nodes)} objects for {len(chunk)} ids")
            for object_id, node in zip(chunk, nodes, strict=True):
                out[object_id] = node if isinstance(node, dict) and node else None
        return out

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        """The object by its numeric id (as webhooks carry it) or its GID; None if it no longer exists."""
        gid = self._gid(object_id)
        field_name = self.type_name[0].lower() + self.type_name[1:]
        data = self.graphql(f"query($id: ID!) {{ {field_name}(id: $id) {{ {self.fields} }} }}", {"id": gid})
        node = data.get(field_name)
        return node if isinstance(node, dict) else None


def _json(response: httpx.Response) -> dict[str, Any]:
    # Parsed once per response: the throttle check and the answer read the same body (a 50-order page is ~80 kB).
    cached = response.extensions.get("contextdesk.json")
    if isinstance(cached, dict):
        return cached
    try:
        body = orjson.loads(response.content)
    except ValueError:
        body = None
    parsed: dict[str, Any] = body if isinstance(body, dict) else {}
    response.extensions["contextdesk.json"] = parsed
    return parsed
