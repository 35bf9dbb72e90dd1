"""The `customer_context:` section of contextdesk.yaml (plus `privacy:`, see privacy.py).

Example::

    customer_context:
      billing_sources: [stripe]        # sources of subscriptions; none → gap "no billing source connected"
      order_sources: [shopify]
      ticket_sources: [zendesk]
      crm_sources: [crm]
      verified_sources: [crm, shopify, stripe, zendesk]   # identifiers seen here count as verified
      external_id_formats: ["stripe:{}", "shopify:customer:{}"]   # a bare id "cus_1" is tried as "stripe:cus_1"
      stale_after_hours: 24            # older syncs are reported as a gap ("orders last synced 3 days ago")
      recent_orders: 5
      resolved_tickets: 3
      recent_interactions: 5

Left out, each list is derived from the configured `sources:` of the same file: billing/order/ticket sources
from their `entity`, CRM sources from the CRM fields they map, verified sources = the systems of record (sources
that issue account ids, i.e. declare `identifiers:`; a web form or a sheet does not), and the external id
formats a bare id is tried in (`lookup_customer(external_id=…)`) from those identifiers' `format`. With no
sources at all every list is empty: no section claims a source, and the gaps say so ("no billing source
connected") — nothing defaults to the demo's names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from context.customer_context.errors import ContextConfigError
from context.customer_context.privacy import PrivacyPolicy, parse_privacy_policy
from context.errors import validation_problems
from context.intake.config import expand_sources, load_yaml
from context.profiles.config import ProfilesConfig, parse_profiles_config


class ContextConfig(BaseModel):
    """How contexts are built: which sources feed which section, freshness, sizes, privacy."""

    model_config = ConfigDict(extra="forbid")

    billing_sources: list[str] = Field(default_factory=list)
    order_sources: list[str] = Field(default_factory=list)
    ticket_sources: list[str] = Field(default_factory=list)
    crm_sources: list[str] = Field(default_factory=list)
    verified_sources: list[str] = Field(default_factory=list)
    #: Namespaced forms a bare external id is tried in ("stripe:{}"), from the sources' identifier formats.
    external_id_formats: list[str] = Field(default_factory=list)
    stale_after_hours: float = 24.0
    recent_orders: int = Field(5, ge=1, le=100)
    resolved_tickets: int = Field(3, ge=0, le=50)
    recent_interactions: int = Field(5, ge=0, le=100)
    open_ticket_statuses: list[str] = Field(default_factory=lambda: ["new", "open", "pending", "hold"])
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    profiles: ProfilesConfig = Field(default_factory=ProfilesConfig)


_ENTITY_KEYS = {"subscription": "billing_sources", "order": "order_sources", "ticket": "ticket_sources"}


def parse_context_config(data: dict[str, Any], *, origin: str = "config") -> ContextConfig:
    """Validate `customer_context:`, `privacy:`, `profiles:` and `status:` of a parsed contextdesk.yaml."""
    section = dict(data.get("customer_context") or {})
    # Derive the source lists from the configured sources' entity kinds unless given explicitly.
    # A connector entry (kind: shopify) counts as its streams (shopify-customers, shopify-orders).
    sources = expand_sources(data.get("sources") or [], origin=origin)
    streams: dict[str, list[str]] = {}
    for s in sources:
        if isinstance(s, dict) and s.get("connector"):
            streams.setdefault(s["connector"], []).append(s["name"])
    for key in ("billing_sources", "order_sources", "ticket_sources", "crm_sources", "verified_sources"):
        if isinstance(section.get(key), list):
            section[key] = [n for name in section[key] for n in ([name, *streams[name]] if name in streams else [name])]
    if streams and "verified_sources" not in section:
        defaults = ContextConfig.model_fields["verified_sources"].get_default(call_default_factory=True)
        section["verified_sources"] = [*defaults, *(n for c, names in streams.items() if c in defaults for n in names)]
    if sources:
        for entity, key in _ENTITY_KEYS.items():
            section.setdefault(key, [s["name"] for s in sources if isinstance(s, dict) and s.get("entity") == entity])
        section.setdefault(
            "crm_sources",
            [
                s["name"]
                for s in sources
                if isinstance(s, dict) and {"lifecycle_stage", "crm_owner"} & set(s.get("fields") or {})
            ],
        )
        with_ids = [s for s in sources if isinstance(s, dict) and isinstance(s.get("identifiers"), dict)]
        section.setdefault("verified_sources", [s["name"] for s in with_ids if "name" in s])
        formats = [
            spec["format"]
            for s in with_ids
            for spec in s["identifiers"].values()
            if isinstance(spec, dict) and isinstance(spec.get("format"), str) and "{}" in spec["format"]
        ]
        section.setdefault("external_id_formats", list(dict.fromkeys(formats)))
    privacy = parse_privacy_policy(data, origin=origin)
    profiles = parse_profiles_config(data, origin=origin)
    try:
        return ContextConfig.model_validate({**section, "privacy": privacy, "profiles": profiles})
    except ValidationError as exc:
        problems = validation_problems(exc, prefix="customer_context.")
        raise ContextConfigError(f"{origin}: {problems}") from exc


def load_context_config(path: Path | None) -> ContextConfig:
    """Load from a contextdesk.yaml, or the defaults when there is none."""
    if path is None:
        return ContextConfig()
    return parse_context_config(load_yaml(path), origin=str(path))
