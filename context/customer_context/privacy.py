"""The privacy policy: which context fields may leave the store for a purpose (LLM prompt, handoff, widget).

The `privacy:` section of contextdesk.yaml::

    privacy:
      redact_patterns: ['\\bIBAN [A-Z0-9 ]+']     # extra regexes masked in every text, for every purpose
      purposes:
        llm_prompt:
          deny: [crm.notes, identity.address, orders.shipping_address]
          allow_for_topics: {delivery: [identity.address, orders.shipping_address]}
        handoff: {deny: []}
        widget: {deny: [crm.notes, crm.owner, identity.address, orders.shipping_address, conflicts]}

Card numbers (13–19 digits passing the Luhn check, spaces or dashes allowed) are always masked in every
text of every purpose; that is not configurable.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from context.customer_context.errors import PrivacyConfigError
from context.customer_context.models import CustomerContext, Purpose
from context.errors import validation_problems

# Field names the policy can deny, and what each one clears in the context.
POLICY_FIELDS: dict[str, str] = {
    "identity.email": "the customer's email address",
    "identity.phone": "the customer's phone number",
    "identity.address": "street address and postcode (city, region and country stay)",
    "identity.identifiers": "external ids and all identifier values",
    "orders.shipping_address": "shipping addresses of orders",
    "orders.tracking_numbers": "tracking numbers",
    "tickets.last_public_message": "the last public message of tickets",
    "interactions.message": "messages typed into forms",
    "crm.notes": "internal CRM / VIP notes",
    "crm.owner": "the CRM owner (account manager)",
    "crm.lifecycle_stage": "the CRM lifecycle and deal stage",
    "status.lifetime_value": "lifetime value and MRR",
    "conflicts": "the list of data conflicts between sources",
}

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")


class PurposePolicy(BaseModel):
    """What one purpose may not see."""

    model_config = ConfigDict(extra="forbid")

    deny: list[str] = Field(default_factory=list)
    # Denied fields allowed back when the question's topic is one of these (e.g. delivery → addresses).
    allow_for_topics: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("deny")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(POLICY_FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {unknown}; known: {sorted(POLICY_FIELDS)}")
        return value

    @field_validator("allow_for_topics")
    @classmethod
    def _known_allowed(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for topic, names in value.items():
            unknown = sorted(set(names) - set(POLICY_FIELDS))
            if unknown:
                raise ValueError(f"topic {topic!r}: unknown fields {unknown}; known: {sorted(POLICY_FIELDS)}")
        return value

    def denied(self, topic: str | None) -> list[str]:
        """The fields denied for a question on `topic`."""
        allowed = set(self.allow_for_topics.get(topic, [])) if topic else set()
        return [f for f in self.deny if f not in allowed]


def _default_purposes() -> dict[str, PurposePolicy]:
    delivery = {"delivery": ["identity.address", "orders.shipping_address"]}
    return {
        # Internal notes never reach a model; addresses only for delivery questions.
        "llm_prompt": PurposePolicy(
            deny=["crm.notes", "identity.address", "orders.shipping_address"], allow_for_topics=delivery
        ),
        # A human colleague taking over sees everything but card numbers.
        "handoff": PurposePolicy(deny=[]),
        # Shown to the person in the chat widget: nothing internal.
        "widget": PurposePolicy(
            deny=[
                "crm.notes",
                "crm.owner",
                "crm.lifecycle_stage",
                "identity.address",
                "identity.identifiers",
                "orders.shipping_address",
                "status.lifetime_value",
                "conflicts",
            ],
            allow_for_topics=delivery,
        ),
    }


class PrivacyPolicy(BaseModel):
    """The `privacy:` section."""

    model_config = ConfigDict(extra="forbid")

    purposes: dict[str, PurposePolicy] = Field(default_factory=_default_purposes)
    redact_patterns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> PrivacyPolicy:
        # A purpose left out of the config keeps its safe default rather than becoming "allow all".
        self.purposes = {**_default_purposes(), **self.purposes}
        for pattern in self.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact_patterns: {pattern!r} is not a valid regex: {exc}") from exc
        return self

    def for_purpose(self, purpose: str) -> PurposePolicy:
        """The policy of a purpose (unknown purposes are an error, never "allow all")."""
        try:
            return self.purposes[purpose]
        except KeyError:
            raise PrivacyConfigError(f"unknown purpose {purpose!r}; known: {sorted(self.purposes)}") from None


def parse_privacy_policy(data: dict[str, Any], *, origin: str = "config") -> PrivacyPolicy:
    """Validate the `privacy:` section of an already-parsed contextdesk.yaml."""
    try:
        return PrivacyPolicy.model_validate(data.get("privacy") or {})
    except ValidationError as exc:
        problems = validation_problems(exc, prefix="privacy.")
        raise PrivacyConfigError(f"{origin}: {problems}") from exc


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_cards(text: str) -> str:
    """Replace anything that looks like a payment card number with its last four digits."""

    def repl(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return f"[card ending {digits[-4:]}]"
        return match.group(0)

    return _CARD.sub(repl, text)


def _scrub(value: Any, extra: list[re.Pattern[str]]) -> Any:
    if isinstance(value, str):
        text = mask_cards(value)
        for pattern in extra:
            text = pattern.sub("[redacted]", text)
        return text
    if isinstance(value, dict):
        return {k: _scrub(v, extra) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, extra) for v in value]
    return value


def apply_policy(
    ctx: CustomerContext, *, policy: PrivacyPolicy, purpose: Purpose, topic: str | None
) -> CustomerContext:
    """A copy of the context holding only what `purpose` may see; withheld field names are listed."""
    denied = policy.for_purpose(purpose).denied(topic)
    data = ctx.model_dump()
    ident, crm, status = data["identity"], data["crm"], data["status"]
    for name in denied:
        if name == "identity.email":
            ident["email"] = None
            ident["identifiers"] = [i for i in ident["identifiers"] if i["kind"] != "email"]
        elif name == "identity.phone":
            ident["phone"] = None
            ident["identifiers"] = [i for i in ident["identifiers"] if i["kind"] != "phone"]
        elif name == "identity.address":
            ident["address"] = None
            ident["postcode"] = None
        elif name == "identity.identifiers":
            ident["identifiers"] = []
        elif name == "orders.shipping_address":
            for order in data["orders"]["recent"]:
                order["shipping_address"] = None
        elif name == "orders.tracking_numbers":
            for order in data["orders"]["recent"]:
                order["tracking_numbers"] = []
                # Record conflicts quote the disagreeing values: a withheld field's values go too.
                order["conflicts"] = [c for c in order.get("conflicts", []) if c["field"] != "tracking_numbers"]
        elif name == "tickets.last_public_message":
            for ticket in data["tickets"]["open"] + data["tickets"]["recent_resolved"]:
                ticket["last_public_message"] = None
        elif name == "interactions.message":
            for item in data["interactions"]["recent"]:
                item["message"] = None
        elif name == "crm.notes":
            crm["notes"] = None
        elif name == "crm.owner":
            crm["owner"] = None
        elif name == "crm.lifecycle_stage":
            crm["lifecycle_stage"] = None
            crm["deal_stage"] = None
        elif name == "status.lifetime_value":
            status["lifetime_value"] = None
            for sub in data["subscriptions"]["items"]:
                sub["mrr"] = None
        elif name == "conflicts":
            data["conflicts"] = []
    # Conflict rows quote raw values of the fields they are about; drop those whose field is withheld.
    hidden_fields = {
        "identity.email": "email",
        "identity.phone": "phone",
        "identity.address": "address",
        "crm.notes": "notes",
        "crm.owner": "crm_owner",
        "crm.lifecycle_stage": "lifecycle_stage",
    }
    gone = {hidden_fields[d] for d in denied if d in hidden_fields}
    if "identity.address" in denied:
        gone |= {"postcode"}
    if "crm.lifecycle_stage" in denied:
        gone |= {"deal_stage", "status"}
    data["conflicts"] = [c for c in data["conflicts"] if c["field"] not in gone]
    extra = [re.compile(p) for p in policy.redact_patterns]
    data = _scrub(data, extra)
    data["withheld"] = sorted(set(denied))
    data["purpose"] = purpose
    data["topic"] = topic
    return CustomerContext.model_validate(data)
