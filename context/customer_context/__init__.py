"""The resolved customer context: build, look up, apply the privacy policy, render within a token budget."""

from context.customer_context.config import ContextConfig, load_context_config, parse_context_config
from context.customer_context.context_markdown import render_context
from context.customer_context.live import LiveAnswer, LiveLookup, LiveRequest
from context.customer_context.lookup import find_by_identifier, lookup_customer
from context.customer_context.models import CustomerContext, LookupResult, RenderedContext
from context.customer_context.service import build_customer_context

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
