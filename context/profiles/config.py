"""The `profiles:` (survivorship) and `status:` (account status) sections of contextdesk.yaml.

Example::

    profiles:
      default: {rule: most_recent}
      fields:
        email: {rule: source_priority, sources: [stripe, shopify, crm]}
        postcode: {rule: same_source_as, field: address}
        crm_owner: {rule: source_priority, sources: [crm], clearable: true}
    status:
      subscription_status_map: {trialing: trial, active: active, past_due: past_due, canceled: former}
      open_ticket_statuses: [new, open, pending, hold]

Every key is optional: what is left out takes the defaults below, written for the demo sources
(crm, shopify, stripe, zendesk, webforms, vip). See docs/profiles.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from context.errors import validation_problems
from context.intake.config import load_yaml
from context.profiles.errors import ProfilesConfigError
from context.readtables import RECORD_FIELDS  # canonical.models' own, copied: a config read builds no table class

Rule = Literal["source_priority", "most_recent", "most_frequent", "same_source_as", "earliest"]

# The fields a profile carries: every standardized record field (`plan` is fed by subscriptions too) + sign-up.
PROFILE_FIELDS = (*RECORD_FIELDS, "signed_up_at")


class FieldRule(BaseModel):
    """How one profile field picks its surviving value among the customer's records."""

    model_config = ConfigDict(extra="forbid")

    rule: Rule = "most_recent"
    # source_priority: sources in order; unlisted sources come after them, most recent first.
    sources: list[str] = Field(default_factory=list)
    # same_source_as: take the value from the record that won this other field.
    field: str | None = None
    # An explicit blank from the winning-ranked source clears the value (otherwise blanks never win).
    clearable: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> FieldRule:
        if self.rule == "same_source_as" and not self.field:
            raise ValueError("rule same_source_as needs 'field' (the field whose winning record to follow)")
        if self.rule == "source_priority" and not self.sources:
            raise ValueError("rule source_priority needs 'sources' (a list in priority order)")
        return self


def _default_fields() -> dict[str, FieldRule]:
    person = ["crm", "stripe", "shopify", "vip", "zendesk", "webforms"]
    return {
        # Billing and order systems hold the address the customer actually uses.
        "email": FieldRule(rule="source_priority", sources=["stripe", "shopify", "crm", "vip", "zendesk", "webforms"]),
        "phone": FieldRule(rule="most_recent"),
        "first_name": FieldRule(rule="source_priority", sources=person),
        "last_name": FieldRule(rule="same_source_as", field="first_name"),
        "full_name": FieldRule(rule="source_priority", sources=person),
        "company": FieldRule(rule="most_frequent"),
        "job_title": FieldRule(rule="source_priority", sources=["crm"]),
        # The address moves as one unit: city, postcode etc. come from the record that won `address`.
        "address": FieldRule(rule="most_recent"),
        "city": FieldRule(rule="same_source_as", field="address"),
        "region": FieldRule(rule="same_source_as", field="address"),
        "postcode": FieldRule(rule="same_source_as", field="address"),
        "country": FieldRule(rule="same_source_as", field="address"),
        # CRM-owned fields: the CRM may legitimately clear them (owner unassigned, deal closed).
        "lifecycle_stage": FieldRule(rule="source_priority", sources=["crm"], clearable=True),
        "crm_owner": FieldRule(rule="source_priority", sources=["crm"], clearable=True),
        "deal_stage": FieldRule(rule="source_priority", sources=["crm"], clearable=True),
        # Billing owns the plan; the CRM's copy is a fallback (and often stale).
        "plan": FieldRule(rule="source_priority", sources=["stripe", "crm", "vip"]),
        "notes": FieldRule(rule="source_priority", sources=["crm", "vip"], clearable=True),
        "signed_up_at": FieldRule(rule="earliest"),
    }


class SurvivorshipConfig(BaseModel):
    """The `profiles:` section: one rule per field (defaults for fields left out)."""

    model_config = ConfigDict(extra="forbid")

    default: FieldRule = Field(default_factory=FieldRule)
    fields: dict[str, FieldRule] = Field(default_factory=dict)
    # Fields whose disagreements are normal and not worth a conflict row.
    ignore_conflicts: list[str] = Field(default_factory=lambda: ["notes", "signed_up_at"])
    _rules: dict[str, FieldRule] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields(self) -> SurvivorshipConfig:
        unknown = sorted(set(self.fields) - set(PROFILE_FIELDS))
        if unknown:
            raise ValueError(f"unknown profile fields {unknown}; known: {list(PROFILE_FIELDS)}")
        merged = {**_default_fields(), **self.fields}
        for name, rule in merged.items():
            if rule.rule == "same_source_as":
                if rule.field not in PROFILE_FIELDS:
                    raise ValueError(f"field {name!r}: same_source_as names unknown field {rule.field!r}")
                if merged.get(rule.field or "", self.default).rule == "same_source_as":
                    raise ValueError(f"field {name!r}: same_source_as must point at a field with its own rule")
        self._rules = {f: merged.get(f, self.default) for f in PROFILE_FIELDS}
        return self

    def ordered_rules(self) -> list[tuple[str, FieldRule]]:
        """Every profile field with its rule, fields with a rule of their own before same_source_as ones."""
        return sorted(self._rules.items(), key=lambda kv: kv[1].rule == "same_source_as")

    def rule_for(self, field: str) -> FieldRule:
        """The rule in force for a field: configured, else the shipped default, else `default`."""
        return self._rules.get(field) or self.default


class StatusConfig(BaseModel):
    """The `status:` section: how the account status is derived (see docs/profiles.md)."""

    model_config = ConfigDict(extra="forbid")

    # Zone of the dates in a status's cause ("first order 2026-07-01"); from `business.timezone`.
    timezone: str = "UTC"
    # Canonical subscription status → account status. Unlisted statuses are ignored.
    subscription_status_map: dict[str, Literal["trial", "active", "past_due", "former"]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type,return-value,unused-ignore]
            "trialing": "trial",
            "active": "active",
            "past_due": "past_due",
            "unpaid": "past_due",
            "canceled": "former",
            "incomplete_expired": "former",
        }
    )
    # When a customer has several subscriptions, the one whose status comes first here decides.
    status_precedence: list[str] = Field(default_factory=lambda: ["past_due", "active", "trial", "former"])
    # Orders with these financial statuses do not make someone a customer nor count in lifetime value.
    ignored_order_financial_statuses: list[str] = Field(default_factory=lambda: ["voided"])
    # CRM lifecycle stages meaning "used to be a customer" (status former without a subscription).
    former_lifecycle_stages: list[str] = Field(default_factory=lambda: ["former_customer", "churned"])
    # CRM lifecycle stages that agree with each status; a disagreement is recorded as a conflict.
    lifecycle_agrees: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "lead": ["lead", "subscriber", "marketing_qualified_lead", "sales_qualified_lead", "opportunity"],
            "customer": ["customer"],
            "active": ["customer"],
            "past_due": ["customer"],
            "trial": ["customer", "opportunity", "trial"],
            "former": ["former_customer", "churned"],
        }
    )
    open_ticket_statuses: list[str] = Field(default_factory=lambda: ["new", "open", "pending", "hold"])

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from context.intake.standardize import zone_problem

        problem = zone_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class ProfilesConfig(BaseModel):
    """Everything profiles need from contextdesk.yaml."""

    profiles: SurvivorshipConfig = Field(default_factory=SurvivorshipConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)


def parse_profiles_config(data: dict[str, Any], *, origin: str = "config") -> ProfilesConfig:
    """Validate the `profiles:` and `status:` sections of an already-parsed contextdesk.yaml."""
    status = dict(data.get("status") or {})
    business = data.get("business")
    if isinstance(business, dict) and isinstance(business.get("timezone"), str):
        from context.intake.standardize import zone_problem  # the one place that suggests the IANA name

        if zone_problem(business["timezone"]) is None:  # a bad zone is reported by the business section
            status.setdefault("timezone", business["timezone"])
    try:
        return ProfilesConfig.model_validate({"profiles": data.get("profiles") or {}, "status": status})
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise ProfilesConfigError(f"{origin}: {problems}") from exc


def load_profiles_config(path: Path | None) -> ProfilesConfig:
    """Load the sections from a contextdesk.yaml, or the defaults when there is none."""
    if path is None:
        return ProfilesConfig()
    return parse_profiles_config(load_yaml(path), origin=str(path))
