"""The resolved customer context: build, look up, apply the privacy policy, render within a token budget.

The names below are loaded on first use (PEP 562): importing one submodule (a CLI read needs only the builder
and the config) must not load every other one, and their tables, with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from context.lazy import lazy_exports

if TYPE_CHECKING:
    from context.customer_context.config import ContextConfig, load_context_config, parse_context_config
    from context.customer_context.context_markdown import render_context
    from context.customer_context.live import LiveAnswer, LiveLookup, LiveRequest
    from context.customer_context.lookup import find_by_identifier, lookup_customer
    from context.customer_context.models import CustomerContext, LookupResult, RenderedContext
    from context.customer_context.service import build_customer_context

_HOMES = {
    "ContextConfig": "config",
    "load_context_config": "config",
    "parse_context_config": "config",
    "render_context": "context_markdown",
    "LiveAnswer": "live",
    "LiveLookup": "live",
    "LiveRequest": "live",
    "find_by_identifier": "lookup",
    "lookup_customer": "lookup",
    "CustomerContext": "models",
    "LookupResult": "models",
    "RenderedContext": "models",
    "build_customer_context": "service",
}


__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "ContextConfig",
    "CustomerContext",
    "LiveAnswer",
    "LiveLookup",
    "LiveRequest",
    "LookupResult",
    "RenderedContext",
    "build_customer_context",
    "find_by_identifier",
    "load_context_config",
    "lookup_customer",
    "parse_context_config",
    "render_context",
]
