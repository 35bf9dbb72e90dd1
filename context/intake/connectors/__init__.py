"""Vendor connectors: pull sources on the same `Source` interface, mapping and raw store as files.

One module per vendor, the shared HTTP/throttle/retry code in `http.py`, the default mappings in `mappings/`.
"""

from __future__ import annotations

from context.errors import ConfigError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page, SourceCredentials


def open_connector(source: SourceConfig, connections: Connections) -> Connector:
    """The connector stream of a configured source (vendor kinds and http_json)."""
    if source.kind == "shopify":
        from context.intake.connectors.shopify import ShopifyConnector

        return ShopifyConnector(source, connections)
    if source.kind == "stripe":
        from context.intake.connectors.stripe import StripeConnector

        return StripeConnector(source, connections)
    raise ConfigError(f"source {source.name!r}: no connector for kind {source.kind!r} yet")


__all__ = ["Connections", "Connector", "Page", "SourceCredentials", "open_connector"]
