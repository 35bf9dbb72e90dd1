"""What one turn works with: the message and its signals, the route, the (privacy-filtered) context, the
retrieved passages, and the conversation so far. Shared by prompt assembly, the grounded responder,
the escalation rules and the grounding check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agent.config import AgentConfig, RouteConfig
from agent.intents import MessageSignals
from context.customer_context.models import CustomerContext

#: Passage audiences a customer may read; anything else (internal, agents, staff…) is for staff only.
CUSTOMER_AUDIENCES = frozenset({"everyone", "customers", "public", "visitors"})


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the turn uses it: a short label for citing ([P1]), its text with any
    instruction-like sentences removed, and where it comes from."""

    label: str
    chunk_id: str
    title: str
    heading: str
    url: str
    text: str
    score: float
    audience: str
    injections_removed: int = 0
    language: str = ""  # ISO 639-1 code of the page ("" when unknown)

    @property
    def customer_facing(self) -> bool:
        """Whether the page may reach a customer (pages marked internal / agent-facing never do)."""
        return self.audience.strip().lower() in CUSTOMER_AUDIENCES


@dataclass
class HistoryMessage:
    """A previous message of the conversation."""

    role: str  # customer | assistant | human | system
    content: str


@dataclass
class TurnInput:
    """Everything a responder may use for one reply."""

    message: str
    signals: MessageSignals
    route_name: str
    route: RouteConfig
    verified: bool
    context: CustomerContext | None
    context_text: str
    passages: list[Passage]
    low_confidence: bool
    now: datetime  # the turn's moment (UTC-aware, from the injected clock); "today" is its date in `timezone`
    history: list[HistoryMessage] = field(default_factory=list)
    lead: dict[str, str] = field(default_factory=dict)
    timezone: str = "UTC"  # IANA zone that dates shown to the customer are rendered in
    config: AgentConfig | None = None  # the store's agent settings (status words, subscriptions); None = defaults
    query_language: str | None = None  # the question's language as retrieval detected it (None: not clear)
    # No page in the question's language answers it: the passages are in another one, and the reply says so.
    language_fallback: bool = False

    def passage(self, ref: str) -> Passage | None:
        """A passage by label ("P1") or chunk id."""
        return next((p for p in self.passages if ref in (p.label, p.chunk_id)), None)
