"""The `business:` section of contextdesk.yaml: who the business is, where it works and when people answer.

Example::

    business:
      name: Spoke & Chain Cycles       # the greeting and the widget's header name it; unset: no name
      timezone: Europe/London          # IANA name; dates people read are shown in it (JSON stays UTC)
      hours: {days: [tue, wed, thu, fri, sat], open: "08:30", close: "18:00", holidays: ["2026-12-25"]}
      currency: GBP                    # amounts without a currency of their own are in it
      support_email: help@spokeandchain.example
      teams: [workshop, sales]         # handoff teams a route may name (agent.routes.*.handoff_team)

Every key is optional and the defaults are neutral (UTC, Monday to Friday 09:00–17:00, no name, no
currency): nothing defaults to the demo's shop. The agent takes its business hours from here unless
`agent.business_hours` is set explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from context.errors import ConfigError, StandardizationError, validation_problems

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Hours(BaseModel):
    """When people answer, in the business's time zone."""

    model_config = ConfigDict(extra="forbid")

    days: list[Day] = Field(default_factory=lambda: list[Day](["mon", "tue", "wed", "thu", "fri"]))
    open: time = time(9, 0)
    close: time = time(17, 0)
    holidays: list[str] = Field(default_factory=list, description="ISO dates, e.g. 2026-12-25")

    @model_validator(mode="after")
    def _order(self) -> Hours:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class BusinessConfig(BaseModel):
    """The whole `business:` section."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, description="The business's name as customers know it.")
    timezone: str = Field("UTC", description="IANA zone of business hours and of every date a person reads.")
    hours: Hours = Field(default_factory=Hours)
    currency: str | None = Field(None, description="ISO 4217 code of amounts that carry no currency.")
    support_email: str | None = Field(None, description="Where customers may write to a person.")
    teams: list[str] = Field(
        default_factory=lambda: ["support", "billing", "sales"], description="Handoff teams routes may name."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from context.intake.standardize import zone_problem  # the one place that suggests the IANA name

        problem = zone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from context.intake.standardize import standardize_currency

        try:
            return standardize_currency(value)
        except StandardizationError as exc:
            raise ValueError(f"{value!r}: {exc.reason}") from None

    @field_validator("support_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError(f"{value!r} is not an email address")
        return value.strip()

    @property
    def zone(self) -> ZoneInfo:
        """The business's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def team_name(self) -> str:
        """How a reply names the people who answer: "the Spoke & Chain team", else "our team"."""
        return f"the {self.name} team" if self.name else "our team"

    def local(self, value: datetime) -> datetime:
        """`value` (aware, or naive UTC) in the business's time zone, for a person to read."""
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)


def parse_business_config(data: dict[str, Any] | None, *, origin: str = "config") -> BusinessConfig:
    """Validate the `business:` section of a parsed contextdesk.yaml (defaults when absent)."""
    section = (data or {}).get("business") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{origin}: business: must be a mapping (name:, timezone:, hours:, ...)")
    try:
        return BusinessConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {validation_problems(exc, prefix='business.')}") from exc


def load_business_config(path: Path | None) -> BusinessConfig:
    """The business settings of a contextdesk.yaml, or the neutral defaults when there is none."""
    if path is None:
        return BusinessConfig()
    from context.intake.config import load_yaml

    return parse_business_config(load_yaml(path), origin=str(path))
