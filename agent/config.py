"""The `agent:` section of contextdesk.yaml: routes per account status, escalation thresholds, business
hours, limits and prompt budgets. Shipped defaults live in agent/defaults.yaml; a user's section is merged
over them (routes per route and per key), so changing one tone does not drop the other defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.errors import AgentConfigError
from agent.models import ROUTES
from context.customer_context.models import CONTEXT_SECTIONS
from context.errors import validation_problems

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")

#: Context sections a route may show the model.
SECTIONS = CONTEXT_SECTIONS
#: Intents the agent recognises (agent/intents.py).
INTENTS = (
    "order_status",
    "returns_refunds",
    "billing",
    "plan_renewal",
    "cancellation",
    "ticket_status",
    "account_access",
    "sales",
    "general",
)
#: Commitments a route may allow (agent/facts.py reads them in replies).
COMMITMENTS = ("refund", "discount", "credit", "replacement", "compensation")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: What an order status word can mean to the grounded responder (docs/agent.md, "Order statuses"). A store
#: maps its own words onto these in `agent.order_statuses`; a word it does not map is shown as it is.
OrderMeaning = Literal[
    "not_shipped",
    "placed",
    "on_hold",
    "backordered",
    "preparing",
    "shipped",
    "partly_shipped",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "picked_up",
    "cancelled",
    "restocked",
    "returned",
]


def status_key(word: str) -> str:
    """A status word as intake stores labels ("In Transit" → "in_transit"), to look it up in order_statuses."""
    from context.intake.standardize import label_slug  # the one rule intake stores status words by

    return label_slug(word)


class Offer(BaseModel):
    """Something a route may offer: what the customer is told (`say`) and a staff note they never see (`note`)."""

    model_config = ConfigDict(extra="forbid")

    say: str = Field(min_length=1, description="Customer-facing wording, used verbatim in replies.")
    note: str | None = Field(None, description="Guidance for the assistant and staff; never shown to a customer.")


class RouteConfig(BaseModel):
    """How the agent behaves for one account status."""

    model_config = ConfigDict(extra="forbid")

    goal: str
    tone: str
    topics: list[str] = Field(description="Intents this route answers; others are politely declined or escalated.")
    offers: list[Offer] = Field(
        default_factory=list,
        description="What the agent may offer: {say, note} (a plain string is the customer-facing `say`).",
    )
    context_sections: list[str] = Field(default_factory=list)
    escalate_intents: list[str] = Field(default_factory=list, description="Intents handed to a person at once.")
    commitments: list[str] = Field(
        default_factory=list,
        description="Commitments the bot may make on this route without a record (refund, discount, credit, "
        "replacement, compensation); none by default: a promise needs the customer's records.",
    )
    qualify_lead: bool = False
    lead_fields: list[str] = Field(default_factory=lambda: ["name", "company", "need"])
    handoff_team: str = "support"

    @field_validator("offers", mode="before")
    @classmethod
    def _offer_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{"say": v} if isinstance(v, str) else v for v in value]

    @field_validator("topics", "escalate_intents")
    @classmethod
    def _known_intents(cls, value: list[str]) -> list[str]:
        return _only_known(value, INTENTS, "intents")

    @field_validator("commitments")
    @classmethod
    def _known_commitments(cls, value: list[str]) -> list[str]:
        return _only_known(value, COMMITMENTS, "commitments")

    @field_validator("context_sections")
    @classmethod
    def _known_sections(cls, value: list[str]) -> list[str]:
        return _only_known(value, SECTIONS, "sections")


def _only_known(value: list[str], vocabulary: Iterable[str], what: str) -> list[str]:
    """`value` unchanged, or a ValueError naming the words that are not in `vocabulary`."""
    known = list(vocabulary)
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {known}")
    return value


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    # "Pacific" is a folder of the zone database, which ZoneInfo reports as an OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        from context.intake.standardize import zone_problem  # the one place that suggests the IANA name

        raise ValueError(zone_problem(value) or f"unknown time zone {value!r}") from None
    return value


class BusinessHours(BaseModel):
    """When people answer: weekdays, opening times in a time zone, holidays."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"  # neutral: a business sets its own zone in `business:` (context/business.py)
    days: list[Day] = Field(default_factory=lambda: list[Day](["mon", "tue", "wed", "thu", "fri"]))
    open: time = time(9, 0)
    close: time = time(17, 0)
    holidays: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class Limits(BaseModel):
    """Abuse limits of the chat API."""

    model_config = ConfigDict(extra="forbid")

    max_message_chars: int = Field(2000, ge=1)
    messages_per_minute_per_conversation: int = Field(12, ge=1)
    messages_per_minute_per_ip: int = Field(60, ge=1)
    conversations_per_minute_per_ip: int = Field(20, ge=1)


class PromptBudget(BaseModel):
    """Token and size budgets of the assembled prompt."""

    model_config = ConfigDict(extra="forbid")

    context_max_tokens: int = Field(800, ge=100)
    history_max_tokens: int = Field(1200, ge=100)
    passages: int = Field(4, ge=0, le=20)
    passage_max_chars: int = Field(1200, ge=100)


class RetrievalConfig(BaseModel):
    """How many passages to retrieve per turn."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(4, ge=1, le=20)


class HighValue(BaseModel):
    """Who counts as a high-value customer (a cancellation by one goes to a person)."""

    model_config = ConfigDict(extra="forbid")

    lifetime_value_at_least: Decimal = Decimal("100")
    plans: list[str] = Field(default_factory=lambda: ["pro"])


class EscalationConfig(BaseModel):
    """Thresholds of the escalation triggers."""

    model_config = ConfigDict(extra="forbid")

    refund_amount_over: Decimal = Decimal("100")
    high_value: HighValue = Field(default_factory=HighValue)
    negative_messages: int = Field(2, ge=1)
    failed_answers: int = Field(2, ge=1)
    repeat_similarity: float = Field(0.9, gt=0, le=1)


#: `identity.user_id_kind` value that binds the site's user ids to ContextDesk's own customer ids.
OWN_CUSTOMER_IDS = "contextdesk_customer"


class SiteIdentity(BaseModel):
    """What a signed site user id means: exactly one identifier kind (docs/agent.md, "Identity verification")."""

    model_config = ConfigDict(extra="forbid")

    user_id_kind: str = Field(
        "site_user",
        min_length=1,
        description="The identifier kind whose values are the site's user ids (e.g. site_user, shopify_customer); "
        f"{OWN_CUSTOMER_IDS!r} = ContextDesk's own customer ids.",
    )
    user_id_format: str = Field(
        "{}", description="How intake writes those values, e.g. 'shopify:customer:{}' (the source's format)."
    )
    accept_unversioned_hash: bool = Field(
        True, description="Also accept the original user_hash (HMAC of the bare value, without 'v2=')."
    )
    token_leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed on a token's exp/nbf.")

    @field_validator("user_id_format")
    @classmethod
    def _one_slot(cls, value: str) -> str:
        if value.count("{}") != 1 or value.replace("{}", "").count("{") or value.replace("{}", "").count("}"):
            raise ValueError("must contain exactly one '{}' (where the site's user id goes)")
        return value


class AgentConfig(BaseModel):
    """The whole `agent:` section."""

    model_config = ConfigDict(extra="forbid")

    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    limits: Limits = Field(default_factory=Limits)
    prompt: PromptBudget = Field(default_factory=PromptBudget)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    identity: SiteIdentity = Field(default_factory=SiteIdentity)
    display_timezone: str | None = Field(
        None, description="Time zone of dates shown to customers; unset = business_hours.timezone."
    )
    order_statuses: dict[str, OrderMeaning] = Field(
        default_factory=dict,
        description="The store's order status words (as stored: lower case, '_' for spaces) → what they mean; "
        "a word not listed is shown to the customer as it is, with the time of the data.",
    )
    missing_order_status: OrderMeaning | None = Field(
        "not_shipped", description="What an order without a status means (Shopify leaves unfulfilled blank)."
    )
    order_number_examples: list[str] = Field(
        default_factory=list,
        description="A few of the store's order numbers (e.g. W2378156, RO-4K7Q2): their shapes let a bare "
        "reference be read as an order even when no customer records are at hand (a visitor).",
    )
    sells_subscriptions: bool = Field(
        True,
        description="False for a store without subscriptions: never 'you don't have a subscription', and "
        "'cancel' / 'payment' questions are about orders.",
    )
    business_name: str | None = Field(
        None, description="Filled from `business.name`: the greeting names the business; unset: no name."
    )
    routes: dict[str, RouteConfig]

    @field_validator("order_statuses")
    @classmethod
    def _status_keys(cls, value: dict[str, OrderMeaning]) -> dict[str, OrderMeaning]:
        return {status_key(k): v for k, v in value.items()}

    def order_meaning(self, status: str | None) -> OrderMeaning | None:
        """What a stored order status means here (None: a word this store's config does not know)."""
        if status is None or not status.strip():
            return self.missing_order_status
        return self.order_statuses.get(status_key(status))

    @field_validator("display_timezone")
    @classmethod
    def _display_zone(cls, value: str | None) -> str | None:
        return None if value is None else _known_zone(value)

    @property
    def customer_timezone(self) -> str:
        """The IANA zone customer-facing dates are shown in (the display zone, else the business hours')."""
        return self.display_timezone or self.business_hours.timezone

    @model_validator(mode="after")
    def _all_routes(self) -> AgentConfig:
        missing = [r for r in ROUTES if r not in self.routes]
        if missing:
            raise ValueError(f"routes {missing} are missing")
        unknown = sorted(set(self.routes) - set(ROUTES))
        if unknown:
            raise ValueError(f"unknown routes {unknown}; known: {list(ROUTES)}")
        return self


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    from context.intake.fields import DEFAULT_ORDER_STATUSES  # the built-in status words' one home

    data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    section: dict[str, Any] = data["agent"]
    section["order_statuses"] = dict(DEFAULT_ORDER_STATUSES)
    return section


def parse_agent_config(data: dict[str, Any] | None, *, origin: str = "config") -> AgentConfig:
    """Validate the `agent:` section of a parsed contextdesk.yaml, merged over the shipped defaults."""
    section = (data or {}).get("agent") or {}
    if not isinstance(section, dict):
        raise AgentConfigError(f"{origin}: agent: must be a mapping")
    if isinstance((data or {}).get("business"), dict):
        # The business's own name, hours and zone (context/business.py): one place to say who the business is;
        # an agent section that sets its own business_hours keeps them.
        from context.business import parse_business_config
        from context.errors import ConfigError

        try:
            business = parse_business_config(data, origin=origin)
        except ConfigError as exc:
            raise AgentConfigError(str(exc)) from exc
        section = {**section, "business_name": business.name}
        if "business_hours" not in section:
            hours = business.hours.model_dump()
            section["business_hours"] = {**hours, "timezone": business.timezone}
    try:
        return AgentConfig.model_validate(_merge(_defaults(), section))
    except ValidationError as exc:
        problems = validation_problems(exc, prefix="agent.")
        raise AgentConfigError(f"{origin}: {problems}") from exc


def load_agent_config(path: Path | None) -> AgentConfig:
    """The agent config of a contextdesk.yaml, or the shipped defaults when there is none."""
    if path is None:
        return parse_agent_config(None, origin="defaults")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AgentConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_agent_config(data, origin=str(path))
