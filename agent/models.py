"""Conversations, messages, turns (with everything that went into each reply) and handoff requests.

Tables: `agent_conversations`, `agent_messages`, `agent_turns`, `agent_handoff_requests`, and each
conversation's numbered event log `conversation_events` (what `GET /v1/conversations/{id}/events` streams).
API schemas are plain pydantic models (`…Create`, `…Public`); a table model is never returned by the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from context.dbtypes import JSONType, UTCDateTime

#: "handoff"/"closed" are the agent's own; "waiting_for_human"/"with_human"/"resolved" are set by the handoff
#: package through `agent.service.set_conversation_state`.
ConversationState = Literal["bot", "handoff", "closed", "waiting_for_human", "with_human", "resolved"]
#: States in which a person has the conversation: the bot stores the customer's messages and stays silent.
HUMAN_STATES = frozenset({"handoff", "waiting_for_human", "with_human"})
MessageRole = Literal["customer", "assistant", "human", "system"]
#: The fixed list of escalation reason codes (the handoff summary uses the same list).
ReasonCode = Literal["customer_request", "frustration", "loop", "no_answer", "sensitive_topic", "policy", "sales_lead"]
REASON_CODES: tuple[str, ...] = get_args(ReasonCode)
#: The routes a conversation takes: one per account status with customer facts (not `unknown`), plus
#: `visitor` for unverified people (tests/test_one_home.py checks it against `AccountStatusName`).
Route = Literal["trial", "active", "past_due", "former", "lead", "customer", "visitor"]
ROUTES: tuple[str, ...] = get_args(Route)
#: What exactly made the bot escalate (finer than the reason code): read by the handoff's priority rules, so no
#: package has to match the English `reason` text. Set by agent/escalation.py.
EscalationTrigger = Literal[
    "customer_asked",
    "legal",
    "security",
    "refund_over_limit",
    "high_value_cancellation",
    "shouting",
    "leave_threat",
    "negative_messages",
    "failed_answers",
    "repeated_question",
    "route_policy",
    "records_conflict",
    "model_asked",
    "low_confidence",
    "no_grounded_answer",
    "qualified_lead",
]
#: What the numbered event log of a conversation holds (see `ConversationEvent`).
ConversationEventKind = Literal["message", "sentence", "turn_done", "turn_stopped", "state", "typing"]
#: Text a person typed must hold one visible character somewhere: not only whitespace, control characters or
#: invisible format characters (zero-width U+200B-U+200F, word joiner U+2060, BOM U+FEFF, Hangul and braille
#: fillers...). An unanchored JSON-Schema `pattern`, read alike by pydantic, browsers and API fuzzers.
VISIBLE_TEXT = (
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]"
)
#: The most a customer message can hold whatever `agent.limits.max_message_chars` says (the API's schema shows
#: the configured limit; over it the API answers 413).
MESSAGE_MAX_CHARS = 20_000
#: A client message id (idempotent retries): letters, digits and `._:-`, like a UUID or a ULID.
CLIENT_MESSAGE_ID = r"^[A-Za-z0-9._:-]+$"
CLIENT_MESSAGE_ID_MAX = 64


def _ts(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType, nullable=False))


# --- tables ---------------------------------------------------------------------------------------------------


class Conversation(SQLModel, table=True):
    """One chat: who it is with (verified or visitor), its route and its state."""

    __tablename__ = "agent_conversations"

    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    verified: bool = False
    identity_kind: str | None = Field(default=None, max_length=16)
    customer_id: str | None = Field(default=None, max_length=40, index=True)
    route: str = Field(default="visitor", max_length=16)
    route_reason: str = ""
    state: str = Field(default="bot", max_length=16, index=True)
    # Lead details the visitor typed (name, company, need) for the sales handoff.
    lead: dict[str, Any] = _json(dict)
    message_count: int = 0
    # The seq of the last event appended (the counter row that numbers the event log without gaps).
    last_event_seq: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # The turn lease: one turn of a conversation at a time, across processes (owner = the turn's key).
    turn_owner: str | None = Field(default=None, max_length=32)
    turn_until: datetime | None = _ts(nullable=True)
    # A stop asked for the turn with this key (POST /stop); the turn checks it between sentences.
    stop_turn: str | None = Field(default=None, max_length=32)


class ConversationMessage(SQLModel, table=True):
    """A message of a conversation: the customer's, the assistant's, a human agent's, or a system notice."""

    __tablename__ = "agent_messages"
    # A retry of a customer message with the same client id finds the stored one (NULLs never collide).
    __table_args__ = (
        Index("ux_agent_messages_client_message_id", "conversation_id", "client_message_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(max_length=32, index=True, foreign_key="agent_conversations.id")
    role: str = Field(max_length=16)
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()
    turn_id: int | None = None
    citations: list[dict[str, Any]] = _json(list)
    author: str | None = Field(default=None, max_length=128)  # a human agent's name
    # The id the client gave a customer message (POST .../messages `client_message_id`), for idempotent retries.
    client_message_id: str | None = Field(default=None, max_length=64)


class Turn(SQLModel, table=True):
    """Everything behind one reply: route, context snapshot, passages, prompt, model, cost, escalation."""

    __tablename__ = "agent_turns"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(max_length=32, index=True, foreign_key="agent_conversations.id")
    customer_message_id: int | None = None
    reply_message_id: int | None = None
    created_at: datetime = _ts()
    route: str = Field(max_length=16)
    route_reason: str = ""
    intent: str = Field(max_length=32)
    topic: str | None = Field(default=None, max_length=32)
    verified: bool = False
    customer_id: str | None = Field(default=None, max_length=40)
    # {"id": sha256 prefix of the context, "customer_id", "generated_at", "as_of": {section: time}}
    context_snapshot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    passages: list[dict[str, Any]] = _json(list)
    retrieval_confidence: float | None = None
    low_confidence: bool = False
    responder: str = Field(default="grounded", max_length=16)  # "llm" | "grounded" | "none" (handoff)
    model: str | None = Field(default=None, max_length=128)
    fallback_reason: str | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    llm_latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    answered: bool = True
    confidence: float | None = None
    cited_passage_ids: list[str] = _json(list)
    context_fields_used: list[str] = _json(list)
    escalated: bool = False
    escalation_reason_code: str | None = Field(default=None, max_length=32)
    escalation_reason: str | None = None
    grounding_issues: list[str] = _json(list)
    # The assembled prompt and what shaped it (budget drops, withheld fields): `contextdesk chat explain`.
    prompt: dict[str, Any] = _json(dict)


class HandoffRequest(SQLModel, table=True):
    """An escalation, recorded by the turn that decided it (never changed afterwards).

    It has no state of its own: the handoff package owns the one lifecycle (open → claimed → resolved |
    returned_to_bot) on its `handoffs` row and moves the conversation through `set_conversation_state`.
    """

    __tablename__ = "agent_handoff_requests"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(max_length=32, index=True, foreign_key="agent_conversations.id")
    turn_id: int | None = None
    created_at: datetime = _ts()
    reason_code: str = Field(max_length=32, index=True)
    reason: str = ""
    trigger: str | None = Field(default=None, max_length=32)  # an EscalationTrigger
    team: str = Field(default="support", max_length=32)
    customer_id: str | None = Field(default=None, max_length=40)
    verified: bool = False
    route: str = Field(default="visitor", max_length=16)
    within_business_hours: bool = True
    human_eta: str = ""  # what the customer was told about when a person answers


class ConversationEvent(SQLModel, table=True):
    """One numbered event of a conversation's log: seq 1, 2, 3… per conversation, no gaps."""

    __tablename__ = "conversation_events"

    conversation_id: str = Field(primary_key=True, max_length=32, foreign_key="agent_conversations.id")
    seq: int = Field(primary_key=True)
    kind: str = Field(max_length=16)
    data: dict[str, Any] = _json(dict)
    at: datetime = _ts()


# --- API schemas ----------------------------------------------------------------------------------------------


class ConversationCreate(BaseModel):
    """Start a conversation; send an `identity_token`, or `user_id`/`email` with its `user_hash`, to be recognised."""

    user_id: str | None = PField(
        None,
        max_length=200,
        description="The site's id for the signed-in user (bound to agent.identity.user_id_kind).",
    )
    email: str | None = PField(None, max_length=320, description="The signed-in user's email.")
    user_hash: str | None = PField(
        None,
        max_length=128,
        description="'v2=' + hex HMAC-SHA256(identity secret, 'contextdesk-identity:v2\\n<kind>\\n<value>'), or the "
        "original unversioned hex HMAC of the bare value (docs/agent.md).",
    )
    identity_token: str | None = PField(
        None, max_length=4096, description="HS256 JWT with sub (site user id), optional email, exp; kid names the key."
    )


class MessageCreate(BaseModel):
    """A customer message."""

    content: str = PField(
        min_length=1,
        max_length=MESSAGE_MAX_CHARS,
        pattern=VISIBLE_TEXT,
        description="The customer's message: some visible text, at most `agent.limits.max_message_chars` long.",
    )
    client_message_id: str | None = PField(
        None,
        min_length=1,
        max_length=CLIENT_MESSAGE_ID_MAX,
        pattern=CLIENT_MESSAGE_ID,
        description="Your id for this message (e.g. a UUID), for safe retries: a retry with the same id in the same "
        "conversation is not stored again and answers the stored message's reply (409 while it is not ready).",
    )


class Citation(BaseModel):
    """A passage the reply relies on."""

    passage_id: str
    marker: int = PField(description="The [n] marker used in the reply text.")
    title: str
    heading: str
    url: str


class EscalationPublic(BaseModel):
    """The escalation decision of a turn."""

    escalate: bool
    reason_code: ReasonCode | None = None
    reason: str | None = None
    handoff_id: int | None = None
    within_business_hours: bool | None = None
    human_eta: str | None = None


class ConversationPublic(BaseModel):
    """A conversation as the widget sees it."""

    id: str
    created_at: datetime
    verified: bool
    route: str
    state: ConversationState
    greeting: str | None = None


class MessagePublic(BaseModel):
    """One message of a transcript."""

    id: int
    role: MessageRole
    content: str
    created_at: datetime
    citations: list[Citation] = PField(default_factory=list)
    author: str | None = None


class TranscriptPublic(BaseModel):
    """A conversation and its messages, oldest first."""

    conversation: ConversationPublic
    messages: list[MessagePublic]


class TurnReply(BaseModel):
    """The answer to a customer message, with its metadata."""

    conversation_id: str
    message_id: int = PField(description="Id of the stored customer message.")
    reply: str | None = PField(description="The assistant's reply; null while a person has the conversation.")
    reply_message_id: int | None = None
    citations: list[Citation] = PField(default_factory=list)
    route: str
    route_reason: str
    intent: str
    escalation: EscalationPublic
    state: ConversationState
    responder: str = PField(description="llm, grounded, or none (a person has the conversation).")
    model: str | None = None
    turn_id: int | None = None
    turn_key: str | None = PField(None, description="The turn's key, as in its `sentence` and `turn_done` events.")
    latency_ms: float


class TurnPublic(BaseModel):
    """Stored metadata of one turn (server-to-server and `chat explain`)."""

    id: int
    created_at: datetime
    route: str
    route_reason: str
    intent: str
    topic: str | None
    verified: bool
    customer_id: str | None
    context_snapshot: dict[str, Any] | None
    passages: list[dict[str, Any]]
    retrieval_confidence: float | None
    responder: str
    model: str | None
    fallback_reason: str | None
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    answered: bool
    escalated: bool
    escalation_reason_code: str | None
    escalation_reason: str | None
    grounding_issues: list[str]
    context_fields_used: list[str] = PField(
        default_factory=list, description="Customer-context fields the reply relied on (e.g. orders.placed_at)."
    )
    prompt: dict[str, Any]


class HandoffRequestPublic(BaseModel):
    """An escalation as the turn recorded it (its handling is the handoff inbox's: `GET /v1/handoffs`)."""

    id: int
    conversation_id: str
    created_at: datetime
    reason_code: ReasonCode
    reason: str
    trigger: EscalationTrigger | None = None
    team: str
    customer_id: str | None
    verified: bool
    route: str
    within_business_hours: bool
    human_eta: str


class EventPublic(BaseModel):
    """One event of a conversation's log, as the REST catch-up returns it (SSE sends seq as `id:`)."""

    seq: int
    kind: ConversationEventKind
    data: dict[str, Any]
    at: datetime


class EventsPublic(BaseModel):
    """The events after a given seq, oldest first."""

    events: list[EventPublic]


class TurnAccepted(BaseModel):
    """A message taken for an asynchronous turn: follow it on GET /events from `message_seq`."""

    turn_id: str = PField(description="The turn's key, as in the `sentence` and `turn_stopped` events.")
    message_seq: int = PField(description="The seq of the customer's `message` event.")
