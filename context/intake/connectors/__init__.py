"""Vendor connectors: pull sources on the same `Source` interface, mapping and raw store as files.

One module per vendor, the shared HTTP/throttle/retry code in `http.py`, the default mappings in `mappings/`.
"""

from __future__ import annotations

from context.errors import ConfigError
from context.intake.config import SourceConfig
from context.intake.connectors.base import Connections, Connector, Page, SourceCredentials


def connector_class(kind: str) -> type[Connector] | None:
    """The connector class of a source kind (None: not a connector kind, or not implemented yet)."""
    if kind == "shopify":
        from context.intake.connectors.shopify import ShopifyConnector

        return ShopifyConnector
    if kind == "stripe":
        from context.intake.connectors.stripe import StripeConnector

        return StripeConnector
    if kind == "zendesk":
        from context.intake.connectors.zendesk import ZendeskConnector

        return ZendeskConnector
    if kind == "hubspot":
        from context.intake.connectors.hubspot import HubSpotConnector

        return HubSpotConnector
    if kind == "intercom":
        from context.intake.connectors.intercom import IntercomConnector

        return IntercomConnector
    if kind == "http_json":
        from context.intake.connectors.http_json import HttpJsonConnector

        return HttpJsonConnector
    return None


def open_connector(source: SourceConfig, connections: Connections) -> Connector:
    """The connector stream of a configured source (vendor kinds and http_json)."""
    cls = connector_class(source.kind)
    if source.kind == "push":
        raise ConfigError(
            f"source {source.name!r} is a push source: its records arrive at POST /v1/push/{source.name}, "
            "there is nothing to read"
        )
    if cls is None:
        raise ConfigError(f"source {source.name!r}: no connector for kind {source.kind!r} yet")
    return cls(source, connections)


__all__ = ["Connections", "Connector", "Page", "SourceCredentials", "connector_class", "open_connector"]
