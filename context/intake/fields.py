"""The canonical fields a source can map to, and the standardization type of each."""

from __future__ import annotations

from typing import Literal

FieldType = Literal[
    "email", "phone", "name", "country", "timestamp", "money", "currency", "label", "text", "int", "list", "items"
]

# Person fields (every source record carries a person) and entity fields, prefixed by entity.
CANONICAL_FIELDS: dict[str, FieldType] = {
    "email": "email",
    "phone": "phone",
    "first_name": "name",
    "last_name": "name",
    "full_name": "name",
    "company": "text",
    "company_domain": "text",
    "job_title": "text",
    "country": "country",
    "region": "text",
    "city": "text",
    "postcode": "text",
    "address": "text",
    "lifecycle_stage": "label",
    "crm_owner": "text",
    "deal_stage": "label",
    "plan": "label",
    "notes": "text",
    "signed_up_at": "timestamp",
    "order.number": "text",
    "order.placed_at": "timestamp",
    "order.currency": "currency",
    "order.subtotal": "money",
    "order.total": "money",
    "order.financial_status": "label",
    "order.fulfillment_status": "label",
    "order.tracking_numbers": "list",
    "order.carrier": "text",
    "order.shipping_address": "text",
    "order.items": "items",
    "subscription.id": "text",
    "subscription.plan": "label",
    "subscription.status": "label",
    "subscription.interval": "label",
    "subscription.started_at": "timestamp",
    "subscription.trial_end": "timestamp",
    "subscription.current_period_end": "timestamp",
    "subscription.cancel_at": "timestamp",
    "subscription.canceled_at": "timestamp",
    "subscription.mrr": "money",
    "subscription.currency": "currency",
    "ticket.id": "text",
    "ticket.subject": "text",
    "ticket.status": "label",
    "ticket.priority": "label",
    "ticket.channel": "label",
    "ticket.created_at": "timestamp",
    "ticket.updated_at": "timestamp",
    "ticket.resolved_at": "timestamp",
    "ticket.last_public_message": "text",
    "interaction.kind": "label",
    "interaction.occurred_at": "timestamp",
    "interaction.url": "text",
    "interaction.campaign": "text",
    "interaction.message": "text",
}

# `options` (colour, size, ...) are kept with the line: {label: path, ...}, or one path to an object or to
# [{name:, value:}] pairs.
ITEM_FIELDS = frozenset({"sku", "name", "quantity", "unit_price", "options"})

# The order status words every store gets a meaning for by default (the store's word, as intake stores labels,
# -> what it means to the responder: agent/config.py's OrderMeaning). This is their one home: the agent's
# defaults read it (agent.order_statuses merges a store's own words over it) and intake warns about other words.
DEFAULT_ORDER_STATUSES: dict[str, str] = {
    "unfulfilled": "not_shipped",
    "partial": "partly_shipped",
    "fulfilled": "shipped",
    "shipped": "shipped",
    "in_transit": "shipped",
    "delivered": "delivered",
    "restocked": "restocked",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "returned": "returned",
}

# Label fields whose values the responder acts on (agent/grounded_responder.py): the built-in words. Map your
# source's words onto these with `map:` or give them a meaning under `agent.order_statuses`; any other value is
# stored and shown to the customer as it is, never translated into a guess.
KNOWN_LABELS: dict[str, tuple[str, ...]] = {"order.fulfillment_status": tuple(DEFAULT_ORDER_STATUSES)}
