"""The `handoff:` section of contextdesk.yaml: delivery targets, retries, priority rules, summary options.

```yaml
handoff:
  transcript_base_url: https://support.example.com      # links in summaries point to <base>/inbox?handoff=ID
  targets:
    - {name: ops, kind: webhook, url: https://hooks.example.com/contextdesk}   # signed with the webhook secret
    - {name: zendesk, kind: zendesk, url: https://acme.zendesk.com/api/v2/tickets.json, auth_user: bot@acme.com}
    - {name: mail, kind: email, maildir: .contextdesk/handoff-mail, to: support@acme.example}
  retry: {attempts: 5, initial_s: 1, max_s: 30, timeout_s: 10}
  priority: {high_value_ltv: 100, high_value_plans: [pro]}
```

Secrets never live here: the webhook secret and the Zendesk token come from settings (environment).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from context.errors import validation_problems
from handoff.errors import HandoffConfigError

TargetKind = Literal["webhook", "zendesk", "email"]


class TargetConfig(BaseModel):
    """One place handoffs are delivered to."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: TargetKind
    url: str | None = Field(None, description="webhook / zendesk: the endpoint to POST to.")
    auth_user: str | None = Field(None, description="zendesk: the agent email for API-token basic auth.")
    maildir: Path | None = Field(None, description="email: the Maildir folder messages are written to.")
    to: str | None = Field(None, description="email: the To address written in the message.")
    sender: str = Field("contextdesk@localhost", description="email: the From address.")

    @model_validator(mode="after")
    def _needs(self) -> TargetConfig:
        if self.kind in ("webhook", "zendesk") and not self.url:
            raise ValueError(f"target {self.name!r} ({self.kind}) needs a url")
        if self.kind == "email" and (self.maildir is None or not self.to):
            raise ValueError(f"target {self.name!r} (email) needs maildir and to")
        return self


class RetryConfig(BaseModel):
    """Retries of one delivery: exponential backoff with jitter (tenacity), then the dead-letter list."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(5, ge=1, le=50)
    initial_s: float = Field(1.0, gt=0)
    max_s: float = Field(30.0, gt=0)
    jitter_s: float = Field(0.5, ge=0)
    timeout_s: float = Field(10.0, gt=0, description="Per-attempt HTTP timeout.")
    lease_s: float = Field(
        300.0, gt=0, description="A delivery left 'delivering' longer than this (a crash) is picked up again."
    )


class PriorityConfig(BaseModel):
    """Thresholds of the priority rules (see handoff/summary.py PRIORITY_RULES)."""

    model_config = ConfigDict(extra="forbid")

    high_value_ltv: Decimal = Decimal("100")
    high_value_plans: list[str] = Field(default_factory=lambda: ["pro"])


class HandoffConfig(BaseModel):
    """Everything the handoff package needs that is not a secret."""

    model_config = ConfigDict(extra="forbid")

    transcript_base_url: str = "http://127.0.0.1:8000"
    targets: list[TargetConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    summary_deadline_s: float = Field(20.0, gt=0, description="Overall LLM deadline for writing one summary.")
    summary_transcript_tokens: int = Field(
        6000, ge=200, le=200_000, description="Most transcript tokens sent to the LLM writing a summary."
    )
    poll_interval_s: float = Field(2.0, gt=0, description="How often the outbox worker looks for new work.")
    webhook_secret: SecretStr | None = Field(None, exclude=True, description="Set from settings, never from YAML.")
    zendesk_token: SecretStr | None = Field(None, exclude=True, description="Set from settings, never from YAML.")

    @model_validator(mode="after")
    def _unique_names(self) -> HandoffConfig:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate target names {dupes}")
        return self

    def target(self, name: str) -> TargetConfig | None:
        """The target of that name, if configured."""
        return next((t for t in self.targets if t.name == name), None)


def parse_handoff_config(data: dict[str, Any] | None, *, origin: str = "config") -> HandoffConfig:
    """Validate the `handoff:` section of a parsed contextdesk.yaml (secrets are refused here)."""
    section = (data or {}).get("handoff") or {}
    if not isinstance(section, dict):
        raise HandoffConfigError(f"{origin}: handoff: must be a mapping")
    for secret in ("webhook_secret", "zendesk_token"):
        if secret in section:
            raise HandoffConfigError(
                f"{origin}: handoff.{secret}: secrets go in the environment (CONTEXTDESK_HANDOFF_{secret.upper()})"
            )
    try:
        return HandoffConfig.model_validate(section)
    except ValidationError as exc:
        problems = validation_problems(exc, prefix="handoff.")
        raise HandoffConfigError(f"{origin}: {problems}") from exc


def load_handoff_config(path: Path | None) -> HandoffConfig:
    """The handoff config of a contextdesk.yaml (no targets when there is none)."""
    if path is None:
        return HandoffConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HandoffConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_handoff_config(data, origin=str(path))
