"""A fake Shopify GraphQL Admin API: customers and orders, cursor paging, `updated_at` filter, cost throttling.

It understands the queries the connector sends (a connection with `first/after/query`, or one object by GID),
answers in the API's shapes with `extensions.cost.throttleStatus`, refills its bucket as (virtual) time passes,
and answers THROTTLED (HTTP 200, as Shopify does) when a query costs more than is available. Webhooks are
signed as Shopify signs them: base64 HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.clock import NOW
from tests.context.connectors.fakes.server import FakeServer, Recorded, iso

TOKEN = "shpat_test_token_0123456789"
WEBHOOK_SECRET = "shopify-webhook-secret-0123456789"


def customer(n: int, *, email: str | None = None, updated: datetime = NOW, **extra: Any) -> dict[str, Any]:
    """A customer node as the GraphQL API returns it."""
    node = {
        "id": f"gid://shopify/Customer/{n}",
        "legacyResourceId": str(n),
        "email": email or f"customer{n}@example.com",
        "phone": None,
        "firstName": f"First{n}",
        "lastName": f"Last{n}",
        "state": "ENABLED",
        "note": None,
        "tags": [],
        "createdAt": iso(updated - timedelta(days=30)),
        "updatedAt": iso(updated),
        "defaultAddress": {
            "address1": f"{n} Main St",
            "address2": None,
            "city": "Springfield",
            "provinceCode": "IL",
            "zip": "62701",
            "countryCodeV2": "US",
            "company": None,
            "phone": None,
            "firstName": f"First{n}",
            "lastName": f"Last{n}",
        },
    }
    node.update(extra)
    return node


def order(
    n: int,
    *,
    customer_n: int,
    email: str | None = None,
    updated: datetime = NOW,
    status: str = "UNFULFILLED",
    tracking: list[str] | None = None,
    shipment: str | None = None,
) -> dict[str, Any]:
    """An order node with its customer, lines and fulfillments as the GraphQL API returns it."""
    fulfillments = []
    if tracking is not None:
        fulfillments.append(
            {
                "status": "SUCCESS",
                "displayStatus": shipment or "FULFILLED",
                "createdAt": iso(updated),
                "updatedAt": iso(updated),
                "trackingInfo": [{"number": t, "company": "UPS", "url": f"https://ups.example/{t}"} for t in tracking],
            }
        )
    return {
        "id": f"gid://shopify/Order/{n}",
        "legacyResourceId": str(n),
        "name": f"#{1000 + n}",
        "email": email or f"customer{customer_n}@example.com",
        "phone": None,
        "createdAt": iso(updated - timedelta(days=2)),
        "updatedAt": iso(updated),
        "cancelledAt": None,
        "closed": False,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": status,
        "currencyCode": "USD",
        "subtotalPriceSet": {"shopMoney": {"amount": "40.0", "currencyCode": "USD"}},
        "totalPriceSet": {"shopMoney": {"amount": "45.0", "currencyCode": "USD"}},
        "customer": {
            "id": f"gid://shopify/Customer/{customer_n}",
            "legacyResourceId": str(customer_n),
            "email": email or f"customer{customer_n}@example.com",
            "phone": None,
            "firstName": f"First{customer_n}",
            "lastName": f"Last{customer_n}",
        },
        "shippingAddress": {
            "address1": f"{customer_n} Main St",
            "address2": None,
            "city": "Springfield",
            "provinceCode": "IL",
            "zip": "62701",
            "countryCodeV2": "US",
            "company": None,
            "phone": None,
            "firstName": f"First{customer_n}",
            "lastName": f"Last{customer_n}",
        },
        "lineItems": {
            "nodes": [
                {
                    "sku": "CANDLE-1",
                    "title": "Soy candle",
                    "quantity": 2,
                    "originalUnitPriceSet": {"shopMoney": {"amount": "20.0"}},
                }
            ]
        },
        "fulfillments": fulfillments,
    }


class FakeShopify(FakeServer):
    """The store's data plus the API's paging, filter and bucket."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] | None = None,
        bucket: float = 2000.0,
        restore_rate: float = 100.0,
        page_limit: int = 250,
    ) -> None:
        super().__init__()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"customers": {}, "orders": {}}
        self.monotonic = monotonic
        self.maximum = bucket
        self.available = bucket
        self.restore_rate = restore_rate
        self.page_limit = page_limit
        self._last_refill: float | None = None
        self.throttled = 0
        # Objects by (updatedAt, id), rebuilt after a change: paging 100k orders must not sort them per page.
        self._sorted: dict[str, tuple[list[tuple[str, int]], list[dict[str, Any]]]] = {}

    def put(self, kind: str, node: dict[str, Any]) -> None:
        """Create or replace a customer or an order."""
        with self.lock:
            self.objects[kind][node["legacyResourceId"]] = node
            self._sorted.pop(kind, None)

    def remove(self, kind: str, n: int) -> None:
        """Delete an object (the API then answers null for it)."""
        with self.lock:
            self.objects[kind].pop(str(n), None)
            self._sorted.pop(kind, None)

    def _ordered(self, kind: str) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
        if kind not in self._sorted:
            nodes = sorted(self.objects[kind].values(), key=lambda o: (o["updatedAt"], int(o["legacyResourceId"])))
            self._sorted[kind] = ([(o["updatedAt"], int(o["legacyResourceId"])) for o in nodes], nodes)
        return self._sorted[kind]

    # -------------------------------------------------------------------------------- the API

    def _refill(self) -> None:
        if self.monotonic is None:
            self.available = self.maximum
            return
        now = self.monotonic()
        if self._last_refill is not None:
            self.available = min(self.maximum, self.available + (now - self._last_refill) * self.restore_rate)
        self._last_refill = now

    def _cost_ext(self, requested: float, actual: float) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum,
                    "currentlyAvailable": self.available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """Answer one GraphQL request."""
        if not re.fullmatch(r"/admin/api/[0-9]{4}-[0-9]{2}/graphql\.json", request.path):
            return 404, {}, {"errors": "Not Found"}
        if request.headers.get("X-Shopify-Access-Token") != TOKEN:
            return 401, {}, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        body = request.body or {}
        query: str = body.get("query") or ""
        variables: dict[str, Any] = body.get("variables") or {}
        with self.lock:
            self._refill()
            if re.search(r"\{\s*nodes\(ids: \$ids\)", query):
                gids = [str(g) for g in variables.get("ids") or []]
                requested = 2.0 + 12.0 * len(gids)
                if requested > self.available:
                    return self._throttle(requested)
                self.available -= requested
                found = []
                for gid in gids:
                    kind = {"Order": "orders", "Customer": "customers"}.get(gid.split("/")[-2] if "/" in gid else "")
                    found.append(self.objects[kind].get(gid.rsplit("/", 1)[-1]) if kind else None)
                return 200, {}, {"data": {"nodes": found}, "extensions": self._cost_ext(requested, requested)}
            single = re.search(r"\{\s*(customer|order)\(id: \$id\)", query)
            if single:
                kind = single.group(1) + "s"
                requested = 2.0 if kind == "customers" else 12.0
                if requested > self.available:
                    return self._throttle(requested)
                self.available -= requested
                gid = str(variables.get("id", ""))
                node = self.objects[kind].get(gid.rsplit("/", 1)[-1])
                return 200, {}, {"data": {single.group(1): node}, "extensions": self._cost_ext(requested, requested)}
            listing = re.search(r"\b(customers|orders)\(first:", query)
            if not listing:
                return (
                    200,
                    {},
                    {"errors": [{"message": "Field doesn't exist", "extensions": {"code": "undefinedField"}}]},
                )
            kind = listing.group(1)
            first = int(variables.get("first") or 0)
            if first > self.page_limit:
                return 200, {}, {"errors": [{"message": f"The page size is limited to {self.page_limit}."}]}
            per_node = 1.0 if kind == "customers" else 12.0
            requested = 2.0 + first * per_node
            if requested > self.available:
                return self._throttle(requested)
            keys, nodes = self._ordered(kind)
            filter_text = variables.get("query") or ""
            since = re.search(r"updated_at:>='([^']+)'", filter_text)
            offset = bisect.bisect_left(keys, (since.group(1), -1)) if since else 0
            total = len(nodes) - offset
            start = 0
            if variables.get("after"):
                start = int(json.loads(base64.b64decode(variables["after"]))["last"]) + 1
            chunk = nodes[offset + start : offset + start + first]
            actual = 2.0 + len(chunk) * per_node
            self.available -= actual
            end = start + len(chunk) - 1
            cursor = base64.b64encode(json.dumps({"last": end}).encode()).decode() if chunk else None
            return (
                200,
                {},
                {
                    "data": {
                        kind: {
                            "pageInfo": {"hasNextPage": start + len(chunk) < total, "endCursor": cursor},
                            "nodes": chunk,
                        }
                    },
                    "extensions": self._cost_ext(requested, actual),
                },
            )

    def _throttle(self, requested: float) -> tuple[int, dict[str, str], Any]:
        self.throttled += 1
        return (
            200,
            {},
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": self._cost_ext(requested, 0),
            },
        )

    # -------------------------------------------------------------------------------- webhooks

    def webhook(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        secret: str = WEBHOOK_SECRET,
        webhook_id: str | None = None,
        triggered_at: datetime = NOW,
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery as Shopify sends it: REST-shaped JSON body, signed headers."""
        body = json.dumps(payload).encode()
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return body, {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": digest,
            "X-Shopify-Shop-Domain": "candle-shop.myshopify.com",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": triggered_at.isoformat(),
            "X-Shopify-API-Version": "2025-01",
        }


def rest_order(node: dict[str, Any]) -> dict[str, Any]:
    """The REST shape of an order (what `orders/updated` webhooks carry): snake_case, numeric ids."""
    return {
        "id": int(node["legacyResourceId"]),
        "admin_graphql_api_id": node["id"],
        "name": node["name"],
        "email": node["email"],
        "updated_at": node["updatedAt"],
        "fulfillment_status": None if node["displayFulfillmentStatus"] == "UNFULFILLED" else "fulfilled",
    }
