"""Eval suites (YAML-loadable scenario schemas) and run results (results.json).

A suite is a list of scenarios; a scenario is a customer (demo persona, our customer id, an inline customer,
or a visitor), optional context changes (perturbations), and customer turns with expectations.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.models import REASON_CODES, ROUTES
from context.errors import validation_problems
from evals.errors import SuiteError

CATEGORIES = (
    "order_status",
    "tracking",
    "returns_refunds",
    "billing",
    "renewal",
    "cancellation",
    "trial",
    "former_customer",
    "visitor_lead",
    "kb_question",
    "escalation",
    "injection",
    "privacy",
)
Category = Literal[
    "order_status",
    "tracking",
    "returns_refunds",
    "billing",
    "renewal",
    "cancellation",
    "trial",
    "former_customer",
    "visitor_lead",
    "kb_question",
    "escalation",
    "injection",
    "privacy",
]

#: Why an expectation failed (failures.py assigns one per failure; the report ranks them).
Cause = Literal[
    "missing_context_field",
    "stale_source",
    "identity",
    "retrieval_miss",
    "wrong_route",
    "grounding_check",
    "llm_error",
    "privacy_block",
    "privacy_leak",
    "escalation_decision",
    "invented_fact",
    "answer_content",
    "target_error",
]
PerturbationKind = Literal["source_removed", "field_blanked", "stale", "conflict"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InlineOrder(_Strict):
    """An order of an inline customer."""

    number: str
    placed_at: datetime
    total: str = "0"
    currency: str = "USD"
    fulfillment_status: str | None = None
    financial_status: str = "paid"
    tracking_numbers: list[str] = Field(default_factory=list)
    carrier: str | None = None


class InlineSubscription(_Strict):
    """A subscription of an inline customer."""

    plan: str
    status: str
    interval: str = "month"
    started_at: datetime
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    currency: str = "USD"


class InlineCustomer(_Strict):
    """A customer made up for one scenario, inserted into a copy of the store before it runs."""

    email: str
    name: str
    subscription: InlineSubscription | None = None
    orders: list[InlineOrder] = Field(default_factory=list)


class CustomerSpec(_Strict):
    """Who talks: a verified email or user id, an inline customer, or a visitor (optionally claiming an identity)."""

    email: str | None = None
    user_id: str | None = None
    inline: InlineCustomer | None = None
    visitor: bool = False
    forged: bool = Field(False, description="Send the email/user id with a wrong hash (must be a visitor).")

    @model_validator(mode="after")
    def _one(self) -> CustomerSpec:
        given = [n for n in ("email", "user_id", "inline") if getattr(self, n)] + (["visitor"] if self.visitor else [])
        if len(given) != 1:
            raise ValueError(f"give exactly one of email, user_id, inline, visitor (got {given or 'none'})")
        return self

    @property
    def verified(self) -> bool:
        """Whether the scenario expects a verified identity."""
        return not self.visitor and not self.forged


class Perturbation(_Strict):
    """A counterfactual change to the customer's data before the scenario runs."""

    kind: PerturbationKind
    source: str | None = None  # source_removed / stale: which source (shopify, stripe, zendesk, crm)
    field: str | None = None  # field_blanked: orders.tracking_numbers, subscriptions.current_period_end, …
    entity: Literal["subscription", "order"] | None = None  # conflict: which kind of record to add
    hours: float = 96.0  # stale: how old the last sync is made

    @property
    def key(self) -> str:
        """A short stable label, e.g. `field_blanked:orders.tracking_numbers`."""
        arg = self.source or self.field or self.entity
        return f"{self.kind}:{arg}" if arg else self.kind

    @model_validator(mode="after")
    def _args(self) -> Perturbation:
        need = {"source_removed": "source", "stale": "source", "field_blanked": "field", "conflict": "entity"}[
            self.kind
        ]
        if getattr(self, need) is None:
            raise ValueError(f"perturbation {self.kind} needs `{need}`")
        return self


class Expect(_Strict):
    """What one reply must (not) do. Facts are normalized: dates, amounts, order and tracking numbers."""

    contains: list[str] = Field(default_factory=list)
    any_of: list[list[str]] = Field(default_factory=list, description="Each group: at least one must appear.")
    not_contains: list[str] = Field(default_factory=list)
    matches: list[str] = Field(default_factory=list, description="Regexes (case-insensitive).")
    cites: list[str] = Field(default_factory=list, description="Article slug, or slug#Section heading.")
    uses_fields: list[str] = Field(default_factory=list, description="Context fields the reply must rely on.")
    route: str | None = None
    escalate: bool | None = None
    reason_code: str | None = None
    summary_quality: bool = False
    says_unknown_or_escalates: bool = False
    judge: bool = True

    @model_validator(mode="after")
    def _known(self) -> Expect:
        if self.route is not None and self.route not in ROUTES:
            raise ValueError(f"route {self.route!r} is not one of {ROUTES}")
        if self.reason_code is not None and self.reason_code not in REASON_CODES:
            raise ValueError(f"reason_code {self.reason_code!r} is not one of {REASON_CODES}")
        return self

    @property
    def needs_account_facts(self) -> bool:
        """Whether the answer needs facts from the customer's account."""
        return bool(self.uses_fields)


class TurnSpec(_Strict):
    """One customer message and what the reply must do."""

    say: str = Field(min_length=1)
    expect: Expect = Field(default_factory=Expect)


class Scenario(_Strict):
    """A conversation to replay against the agent."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: Category
    description: str = ""
    customer: CustomerSpec
    context_changes: list[Perturbation] = Field(default_factory=list)
    turns: list[TurnSpec] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)


class Suite(_Strict):
    """A named list of scenarios."""

    name: str
    description: str = ""
    # The day the suite's story is anchored at (the demo's REFERENCE_DATE): with it, the suite's dates move
    # with demo data loaded shifted to another week (evals/shift.py); without, they are taken as written.
    reference_date: date | None = None
    scenarios: list[Scenario]

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        seen: set[str] = set()
        for s in self.scenarios:
            if s.id in seen:
                raise ValueError(f"duplicate scenario id {s.id!r}")
            seen.add(s.id)
        return self


def load_suite(path: Path) -> Suite:
    """Read and validate a suite YAML file; errors name the file, scenario and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc}") from exc
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: a suite is a mapping with `name` and `scenarios`")
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        scenarios = data.get("scenarios") or []

        def where(loc: tuple[int | str, ...]) -> str:
            # Name the scenario by its id, not by its index in the list.
            if len(loc) >= 2 and loc[0] == "scenarios" and isinstance(loc[1], int) and loc[1] < len(scenarios):
                sid = (scenarios[loc[1]] or {}).get("id", f"#{loc[1]}")
                return f"scenario {sid}: " + ".".join(str(p) for p in loc[2:])
            return ".".join(str(p) for p in loc)

        raise SuiteError(f"{path}: " + validation_problems(exc, where=where)) from exc


# --- results ---------------------------------------------------------------------------------------------------


class ExpectationResult(BaseModel):
    """One checked expectation: passed, failed, or unmeasured (None)."""

    kind: str
    expected: str
    passed: bool | None
    detail: str = ""
    cause: Cause | None = None


class JudgeScore(BaseModel):
    """An LLM judge's rubric scores (1–5); None when unmeasured."""

    helpfulness: float | None = None
    tone: float | None = None
    error: str | None = None


class TurnResult(BaseModel):
    """What happened on one turn and how it was judged."""

    index: int
    message: str
    reply: str | None = None
    route: str | None = None
    intent: str | None = None
    escalated: bool = False
    reason_code: str | None = None
    handoff_id: int | None = None
    human_eta: str | None = None
    citations: list[dict[str, Any]] = Field(default_factory=list)
    passages: list[dict[str, Any]] = Field(default_factory=list)
    context_fields_used: list[str] = Field(default_factory=list)
    fields_reported: bool = Field(True, description="False when the target does not report context fields used.")
    privacy_withheld: list[str] = Field(default_factory=list)
    context_dropped: list[str] = Field(default_factory=list)
    grounding_issues: list[str] = Field(default_factory=list)
    fallback_reason: str | None = None
    responder: str | None = None
    model: str | None = None
    customer_id: str | None = None
    verified: bool | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    expectations: list[ExpectationResult] = Field(default_factory=list)
    needs_account_facts: bool = False
    used_right_fields: bool | None = None
    facts_in_text: bool | None = None
    asked_known: list[str] = Field(default_factory=list)
    judge: JudgeScore | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        """No expectation failed (unmeasured ones do not fail a turn)."""
        return self.error is None and all(e.passed is not False for e in self.expectations)


class ScenarioResult(BaseModel):
    """One run of one scenario (one repeat, one perturbation)."""

    id: str
    category: str
    perturbation: str | None = Field(None, description="The --perturb applied (None: the scenario as written).")
    context_changes: list[str] = Field(default_factory=list)
    repeat: int = 0
    customer: str
    passed: bool
    turns: list[TurnResult]
    duration_ms: float
    expects_escalation: bool | None = None
    escalated: bool = False

    @property
    def key(self) -> str:
        """Scenario id plus its perturbation, the unit compared between runs."""
        return f"{self.id}@{self.perturbation}" if self.perturbation else self.id

    def failures(self) -> list[tuple[int, ExpectationResult]]:
        """Failed expectations with their turn index."""
        return [(t.index, e) for t in self.turns for e in t.expectations if e.passed is False]


class RunResult(BaseModel):
    """Everything one `eval run` produced: results.json."""

    schema_version: int = 1
    suites: list[str]
    target: str
    started_at: datetime
    duration_s: float
    repeat: int = 1
    perturbations: list[str] = Field(default_factory=list)
    responder: str | None = None
    scenarios: list[ScenarioResult]
    metrics: dict[str, Any] = Field(default_factory=dict)
    goals: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Baseline(BaseModel):
    """What a later run is gated against (baseline.json): each scenario's outcome and the goal metrics.

    A compact cut of a RunResult: the gate (evals/compare.py) reads nothing else, so a committed baseline need
    not carry every turn's reply and context (results.json holds those, for reading a run).
    """

    schema_version: int = 1
    suites: list[str]
    responder: str | None = None
    #: Scenario key (id, or id@perturbation) → passed in every repeat.
    passed: dict[str, bool]
    #: Only the metrics the gate and the summary's goal lines read.
    metrics: dict[str, Any] = Field(default_factory=dict)
    goals: dict[str, Any] = Field(default_factory=dict)


#: The metrics a baseline keeps (the gate's, and the goal figures).
BASELINE_METRICS = ("scenarios", "passed", "overall_pass_rate", "privacy_failures", "invented_facts")


def baseline_of(run: RunResult) -> Baseline:
    """The compact baseline of a run."""
    passed: dict[str, bool] = {}
    for r in run.scenarios:
        passed[r.key] = passed.get(r.key, True) and r.passed
    metrics: dict[str, Any] = {k: run.metrics[k] for k in BASELINE_METRICS if k in run.metrics}
    metrics["categories"] = {
        c: {"pass_rate": v.get("pass_rate")} for c, v in (run.metrics.get("categories") or {}).items()
    }
    return Baseline(suites=run.suites, responder=run.responder, passed=passed, metrics=metrics, goals=run.goals)
