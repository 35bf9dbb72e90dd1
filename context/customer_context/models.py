"""The resolved customer context: what the agent and the human agent read about one customer.

Plain pydantic models (no tables). Every section says when its data was last synced (`as_of`) and where it
came from (`sources`); `gaps` lists what is not known, in words the agent can repeat.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, Field

Purpose = Literal["llm_prompt", "handoff", "widget"]
#: The sections of a customer context, in the order they are shown (a route chooses which it may see).
ContextSection = Literal["identity", "status", "subscriptions", "orders", "tickets", "interactions", "crm"]
CONTEXT_SECTIONS: tuple[str, ...] = get_args(ContextSection)


class SectionMeta(BaseModel):
    """Freshness and origin of one section."""

    as_of: datetime | None = None
    sources: list[str] = Field(default_factory=list)


class IdentifierInfo(BaseModel):
    """An identifier of the customer and the sources that hold it."""

    kind: str
    value: str
    sources: list[str]
    verified: bool


class Identity(BaseModel):
    """Who the customer is."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    postcode: str | None = None
    address: str | None = None
    identifiers: list[IdentifierInfo] = Field(default_factory=list)


class AccountStatus(BaseModel):
    """Derived account status with its cause."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    status: str
    cause: str
    since: datetime | None = None
    plan: str | None = None
    renewal_at: datetime | None = None
    ends_at: datetime | None = None
    lifetime_value: Decimal | None = None
    currency: str | None = None
    order_count: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    open_ticket_count: int = 0
    # `renewal_at` / `ends_at` when the status presents them as upcoming but they are before the build's `now`.
    passed: list[str] = Field(default_factory=list)


class SourceValue(BaseModel):
    """What one source record says about a field, and when that record was last updated there."""

    source: str
    record: str
    value: str | None
    as_of: datetime | None = None


class RecordConflict(BaseModel):
    """Records disagree about one field of the same order or subscription: no value is chosen."""

    field: str
    values: list[SourceValue]


class OrderLine(BaseModel):
    """One line of an order."""

    sku: str | None = None
    name: str | None = None
    quantity: int = 1
    unit_price: Decimal | None = None


class OrderInfo(BaseModel):
    """An order as the agent needs it."""

    number: str | None
    source: str
    placed_at: datetime | None
    currency: str | None
    total: Decimal | None
    financial_status: str | None
    fulfillment_status: str | None
    tracking_numbers: list[str] = Field(default_factory=list)
    carrier: str | None = None
    shipping_address: str | None = None
    items: list[OrderLine] = Field(default_factory=list)
    # Other records of the same order number that say something else (empty when they all agree).
    conflicts: list[RecordConflict] = Field(default_factory=list)
    # Sources with live lookups on: when fulfillment and tracking were read (`live`: from the vendor just now).
    as_of: datetime | None = None
    live: bool = False


class Orders(BaseModel):
    """Recent orders, newest first."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    recent: list[OrderInfo] = Field(default_factory=list)
    total_count: int = 0


class SubscriptionInfo(BaseModel):
    """A subscription."""

    ref: str | None
    source: str
    plan: str | None
    status: str | None
    interval: str | None
    started_at: datetime | None
    trial_end: datetime | None
    current_period_end: datetime | None
    cancel_at: datetime | None
    canceled_at: datetime | None
    mrr: Decimal | None = None
    currency: str | None = None
    # Overlapping subscriptions from other records that say something else (set on the current one only).
    conflicts: list[RecordConflict] = Field(default_factory=list)
    # Dates the status presents as upcoming (trial_end, current_period_end, cancel_at) that are already before
    # the build's `now`: the source has not caught up (renewed, converted, ended), so they are stale, not future.
    passed: list[str] = Field(default_factory=list)
    # Sources with live lookups on: when the status was read (`live`: from the vendor just now).
    as_of: datetime | None = None
    live: bool = False


class Subscriptions(BaseModel):
    """All subscriptions, current first."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    items: list[SubscriptionInfo] = Field(default_factory=list)


class TicketInfo(BaseModel):
    """A support ticket."""

    ref: str | None
    source: str
    subject: str | None
    status: str | None
    priority: str | None
    channel: str | None
    opened_at: datetime | None
    updated_at: datetime | None
    resolved_at: datetime | None
    last_public_message: str | None = None


class Tickets(BaseModel):
    """Open tickets and the last few resolved ones."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    open: list[TicketInfo] = Field(default_factory=list)
    recent_resolved: list[TicketInfo] = Field(default_factory=list)


class InteractionInfo(BaseModel):
    """A form fill, campaign click or page visit."""

    kind: str | None
    source: str
    occurred_at: datetime | None
    url: str | None = None
    campaign: str | None = None
    message: str | None = None


class Interactions(BaseModel):
    """Recent interactions, newest first."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    recent: list[InteractionInfo] = Field(default_factory=list)


class CrmInfo(BaseModel):
    """What the CRM says: owner, lifecycle, deal stage, internal notes."""

    meta: SectionMeta = Field(default_factory=SectionMeta)
    owner: str | None = None
    lifecycle_stage: str | None = None
    deal_stage: str | None = None
    notes: str | None = None


class ConflictInfo(BaseModel):
    """Sources disagree on a field (so the agent can be careful with it)."""

    field: str
    chosen: str | None
    values: list[str]


class CustomerContext(BaseModel):
    """Everything the agent may know about one customer for one purpose, with freshness and gaps."""

    customer_id: str
    purpose: Purpose
    topic: str | None = None
    generated_at: datetime
    identity: Identity
    status: AccountStatus
    subscriptions: Subscriptions
    orders: Orders
    tickets: Tickets
    interactions: Interactions
    crm: CrmInfo
    conflicts: list[ConflictInfo] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    # Fields the privacy policy removed for this purpose (names only, never values).
    withheld: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    """A possible match of a lookup."""

    customer_id: str
    name: str | None
    email: str | None
    status: str | None
    confidence: float
    matched_on: str


class LookupResult(BaseModel):
    """The answer to a lookup: one customer, several candidates (ambiguous), or none."""

    outcome: Literal["found", "ambiguous", "not_found"]
    customer_id: str | None = None
    confidence: float = 0.0
    matched_on: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)


class RenderedContext(BaseModel):
    """A token-budgeted text rendering of a context, and what had to be left out."""

    text: str
    tokens: int
    max_tokens: int
    dropped: list[str] = Field(default_factory=list)
