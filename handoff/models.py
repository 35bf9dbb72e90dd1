"""The handoff summary schema (versioned, published in OpenAPI), the stored handoffs, their outbox and inbox.

Tables: `handoffs` (one per escalation, with its summary), `handoff_state_changes` (who moved it and when),
`handoff_notes` (internal notes), `handoff_deliveries` (the outbox: one row per handoff × target),
`handoff_delivery_attempts` (every try), `handoff_dead_letters` (deliveries that used up their retries).
API schemas are plain pydantic models; a table model is never returned by the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from agent.models import VISIBLE_TEXT, EscalationTrigger, ReasonCode
from context.dbtypes import JSONType, UTCDateTime

#: Bump when the summary's shape changes incompatibly; receivers switch on `schema_version`.
SUMMARY_SCHEMA_VERSION: Literal["1.0"] = "1.0"

HandoffState = Literal["open", "claimed", "resolved", "returned_to_bot"]
Priority = Literal["urgent", "high", "normal", "low"]
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
Sentiment = Literal["positive", "neutral", "negative", "angry"]
DeliveryStatus = Literal["pending", "delivering", "delivered", "dead"]
FactKind = Literal["order_number", "amount", "percent", "date", "tracking_number", "verified_fact"]


# --- the summary -------------------------------------------------------------------------------------------------


class CustomerSnapshot(BaseModel):
    """Who the human is about to talk to. A visitor has no customer id and no account facts."""

    verified: bool = PField(description="True when the widget sent a valid signed identity.")
    customer_id: str | None = None
    name: str | None = PField(None, description="From our records when verified; as typed by a visitor otherwise.")
    status: str | None = PField(None, description="Account status (trial, active, past_due, former, customer, lead).")
    plan: str | None = None
    lifetime_value: str | None = PField(None, description="Lifetime value with currency, e.g. '119.00 USD'.")
    route: str = PField(description="The agent route the conversation was on.")


class VerifiedFact(BaseModel):
    """A fact read from our systems (not from the customer), with where and as of when."""

    label: str = PField(description="What the fact is about, e.g. 'Order #1042'.")
    value: str = PField(description="The fact, e.g. 'fulfilled; UPS 1Z999AA10123456784; 46.00 USD'.")
    source: str = PField(description="The system it comes from, e.g. 'shopify'.")
    as_of: datetime | None = PField(None, description="When that source was last synced.")


class ClaimedFact(BaseModel):
    """Something the customer said that we have not checked."""

    claim: str


class CitedPassage(BaseModel):
    """A help-center passage the bot cited."""

    title: str
    heading: str = ""
    url: str = ""


class BotAttempt(BaseModel):
    """What the bot answered or tried before the handoff."""

    said: str = PField(description="The bot's reply, shortened.")
    cited: list[CitedPassage] = PField(default_factory=list)


class CollectedInfo(BaseModel):
    """Information collected in the conversation."""

    order_numbers: list[str] = PField(default_factory=list)
    tracking_numbers: list[str] = PField(default_factory=list)
    amounts: list[str] = PField(default_factory=list)
    photos_mentioned: bool = False
    preferred_contact: str | None = PField(None, description="e.g. 'email', 'phone', or what the customer wrote.")
    lead: dict[str, str] = PField(default_factory=dict, description="name, company, need a prospect typed.")


class PriorityDecision(BaseModel):
    """The priority and the rule that set it."""

    level: Priority
    rule: str = PField(description="Id of the rule that matched first (see docs/handoff.md).")
    why: str


class Promise(BaseModel):
    """Something the bot told the customer will happen."""

    text: str
    by: Literal["bot", "human"] = "bot"


class BusinessHoursNote(BaseModel):
    """Whether people were at work, and what the customer was told about when a person answers."""

    within: bool
    customer_told: str


class UnsupportedFact(BaseModel):
    """A fact the LLM wrote that is in neither the transcript nor the context: removed from the summary."""

    field: str
    kind: FactKind
    value: str


class HandoffSummary(BaseModel):
    """What a person needs to pick up an escalated conversation in ten seconds."""

    schema_version: Literal["1.0"] = SUMMARY_SCHEMA_VERSION
    headline: str = PField(description="The one line a busy agent needs: priority, who, what, why.")
    reason_code: ReasonCode
    reason: str = PField(description="Why the bot escalated, in words.")
    trigger: EscalationTrigger | None = PField(
        None, description="What exactly made the bot escalate (e.g. legal, security, refund_over_limit)."
    )
    intent: str = PField(description="What the customer wants (an agent intent, e.g. returns_refunds).")
    problem: str = PField(description="The problem in one or two sentences.")
    customer: CustomerSnapshot
    verified_facts: list[VerifiedFact] = PField(default_factory=list)
    customer_claims: list[ClaimedFact] = PField(default_factory=list)
    bot_attempts: list[BotAttempt] = PField(default_factory=list)
    collected: CollectedInfo = PField(default_factory=CollectedInfo)
    sentiment: Sentiment
    # The sentiment our own rules read from the customer's words: the one the priority rules use, so a summary
    # writer's reading alone never raises the priority (None on summaries stored before it existed).
    sentiment_by_rules: Sentiment | None = None
    priority: PriorityDecision
    suggested_next_step: str
    promises: list[Promise] = PField(default_factory=list)
    business_hours: BusinessHoursNote
    transcript_url: str
    written_by: Literal["llm", "deterministic"]
    model: str | None = None
    llm_error: str | None = PField(None, description="Why the deterministic builder wrote it, when an LLM failed.")
    unsupported_removed: list[UnsupportedFact] = PField(default_factory=list)
    generated_at: datetime


class SummaryDraft(BaseModel):
    """The part of the summary the LLM writes (structured output); the rest comes from our records and rules."""

    intent: str = PField(description="What the customer wants, e.g. returns_refunds, order_status, billing.")
    problem: str = PField(description="The problem in one or two plain sentences.")
    verified_facts: list[VerifiedFact] = PField(
        default_factory=list, description="Facts from the CUSTOMER CONTEXT only, each with its source and as_of."
    )
    customer_claims: list[ClaimedFact] = PField(
        default_factory=list, description="What the customer said that our records do not confirm."
    )
    sentiment: Sentiment
    suggested_next_step: str
    promises: list[Promise] = PField(default_factory=list, description="What the bot promised the customer.")
    preferred_contact: str | None = None
    photos_mentioned: bool = False


# --- tables ------------------------------------------------------------------------------------------------------


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(sa_column=Column(UTCDateTime(), nullable=False, index=index))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType, nullable=False))


class Handoff(SQLModel, table=True):
    """One escalated conversation waiting for (or handled by) a person, with its summary."""

    __tablename__ = "handoffs"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(unique=True, foreign_key="agent_handoff_requests.id")
    conversation_id: str = Field(max_length=32, index=True, foreign_key="agent_conversations.id")
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    status: str = Field(default="open", max_length=16, index=True)
    priority: str = Field(default="normal", max_length=8, index=True)
    priority_rank: int = 2
    reason_code: str = Field(max_length=32, index=True)
    team: str = Field(default="support", max_length=32)
    customer_id: str | None = Field(default=None, max_length=40)
    verified: bool = False
    headline: str = Field(default="", sa_column=Column(Text, nullable=False))
    written_by: str = Field(default="deterministic", max_length=16)
    summary: dict[str, Any] = _json(dict)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = _ts(nullable=True)
    closed_by: str | None = Field(default=None, max_length=128)
    closed_at: datetime | None = _ts(nullable=True)


class HandoffStateChange(SQLModel, table=True):
    """One move of a handoff's state: from, to, who, when."""

    __tablename__ = "handoff_state_changes"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(index=True, foreign_key="handoffs.id")
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    at: datetime = _ts()


class HandoffNote(SQLModel, table=True):
    """An internal note on a handoff (never shown to the customer)."""

    __tablename__ = "handoff_notes"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(index=True, foreign_key="handoffs.id")
    author: str = Field(max_length=128)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()


class HandoffDelivery(SQLModel, table=True):
    """The outbox: one handoff to one target, delivered at least once (receivers dedupe on idempotency_key)."""

    __tablename__ = "handoff_deliveries"
    __table_args__ = (UniqueConstraint("handoff_id", "target", name="uq_handoff_deliveries_handoff_target"),)

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(index=True, foreign_key="handoffs.id")
    target: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    idempotency_key: str = Field(max_length=80, unique=True)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    locked_until: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
    last_status: int | None = None
    last_error: str | None = None


class HandoffDeliveryAttempt(SQLModel, table=True):
    """One try of a delivery: when, how long, the HTTP status or the error."""

    __tablename__ = "handoff_delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True, foreign_key="handoff_deliveries.id")
    number: int
    at: datetime = _ts()
    ok: bool = False
    status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0


class HandoffDeadLetter(SQLModel, table=True):
    """A delivery that used up its retries; `contextdesk handoff deliveries retry` sends it again."""

    __tablename__ = "handoff_dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True, foreign_key="handoff_deliveries.id")
    created_at: datetime = _ts()
    attempts: int = 0
    last_error: str | None = None
    retried_at: datetime | None = _ts(nullable=True)
    retried_by: str | None = Field(default=None, max_length=128)


# --- API schemas -------------------------------------------------------------------------------------------------


class HandoffListItem(BaseModel):
    """A handoff in the inbox list."""

    id: int
    conversation_id: str
    created_at: datetime
    age_minutes: float
    status: HandoffState
    priority: Priority
    reason_code: ReasonCode
    team: str
    verified: bool
    customer_id: str | None
    headline: str
    claimed_by: str | None = None


class StateChangePublic(BaseModel):
    """One state change."""

    from_state: HandoffState | None
    to_state: HandoffState
    actor: str
    at: datetime


class NotePublic(BaseModel):
    """An internal note."""

    id: int
    author: str
    body: str
    created_at: datetime


class AttemptPublic(BaseModel):
    """One delivery attempt."""

    number: int
    at: datetime
    ok: bool
    status: int | None
    error: str | None
    duration_ms: float


class DeliveryPublic(BaseModel):
    """One outbox row and its attempts."""

    id: int
    handoff_id: int
    target: str
    kind: str
    idempotency_key: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    dead_letter_id: int | None = None
    history: list[AttemptPublic] = PField(default_factory=list)


class HandoffPublic(BaseModel):
    """A handoff with its summary, state history, notes and deliveries."""

    id: int
    request_id: int
    conversation_id: str
    created_at: datetime
    updated_at: datetime
    status: HandoffState
    priority: Priority
    reason_code: ReasonCode
    team: str
    verified: bool
    customer_id: str | None
    claimed_by: str | None
    claimed_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    summary: HandoffSummary
    summary_text: str = PField(description="The summary rendered as plain text.")
    summary_markdown: str = PField(description="The summary rendered as compact markdown.")
    history: list[StateChangePublic]
    notes: list[NotePublic]
    deliveries: list[DeliveryPublic]


class ActorBody(BaseModel):
    """Who does an inbox action."""

    actor: str = PField(min_length=1, max_length=128, pattern=VISIBLE_TEXT)


class ClaimBody(ActorBody):
    """Claim a handoff; `take_over` takes it from another person who claimed it."""

    take_over: bool = PField(False, strict=True)  # JSON true/false only, as the schema says (not 0, "yes")


class ReplyBody(ActorBody):
    """A message from the person to the customer (appears in the conversation and the widget)."""

    message: str = PField(min_length=1, max_length=4000, pattern=VISIBLE_TEXT)


class NoteBody(ActorBody):
    """An internal note."""

    body: str = PField(min_length=1, max_length=4000, pattern=VISIBLE_TEXT)


class CloseBody(ActorBody):
    """Resolve or hand back, optionally with a last message to the customer."""

    message: str | None = PField(None, max_length=4000, pattern=VISIBLE_TEXT)
