"""The summary quality check (also used by the evals): required fields, no unsupported facts, the reason code
matches the escalation trigger, the priority rule was applied, the bot's promises are listed, privacy."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handoff.config import PriorityConfig
from handoff.facts import Evidence, unsupported
from handoff.models import HandoffSummary
from handoff.summary import decide_priority, promises_in

REQUIRED = ("headline", "reason", "intent", "problem", "suggested_next_step", "transcript_url")


class QualityReport(BaseModel):
    """The verdict: passed, and for each check whether it passed; problems say what failed."""

    passed: bool
    checks: dict[str, bool]
    problems: list[str] = Field(default_factory=list)


def _texts(summary: HandoffSummary) -> list[tuple[str, str]]:
    out = [("headline", summary.headline), ("problem", summary.problem)]
    out.append(("suggested_next_step", summary.suggested_next_step))
    out += [(f"verified_facts[{i}]", f"{f.label} {f.value}") for i, f in enumerate(summary.verified_facts)]
    out += [(f"customer_claims[{i}]", c.claim) for i, c in enumerate(summary.customer_claims)]
    out += [(f"promises[{i}]", p.text) for i, p in enumerate(summary.promises)]
    return out


def check_summary(
    summary: HandoffSummary,
    *,
    expected_reason_code: str | None = None,
    transcript: list[tuple[str, str]] | None = None,
    evidence: Evidence | None = None,
    priority: PriorityConfig | None = None,
) -> QualityReport:
    """Check one summary. `transcript` is [(role, text)]; `evidence` is what facts may come from
    (transcript + context); without them the fact and promise checks use only what the summary holds."""
    problems: list[str] = []
    checks: dict[str, bool] = {}

    missing = [name for name in REQUIRED if not str(getattr(summary, name) or "").strip()]
    if not summary.business_hours.customer_told.strip():
        missing.append("business_hours.customer_told")
    checks["required_fields"] = not missing
    if missing:
        problems.append(f"required fields empty: {missing}")

    if evidence is None and transcript is not None:
        evidence = Evidence("\n".join(t for _, t in transcript))
    if evidence is not None:
        bad = [(where, f) for where, text in _texts(summary) for f in unsupported(text, evidence)]
        checks["no_unsupported_facts"] = not bad
        if bad:
            problems.append("unsupported facts: " + "; ".join(f"{w}: {f.kind} {f.value}" for w, f in bad[:5]))

    if expected_reason_code is not None:
        checks["reason_code_matches"] = summary.reason_code == expected_reason_code
        if summary.reason_code != expected_reason_code:
            problems.append(f"reason code {summary.reason_code!r}, expected {expected_reason_code!r}")

    expected = decide_priority(
        customer=summary.customer,
        reason_code=summary.reason_code,
        reason=summary.reason,
        sentiment=summary.sentiment_by_rules or summary.sentiment,
        config=priority or PriorityConfig(),
        trigger=summary.trigger,
    )
    checks["priority_rule_applied"] = (expected.level, expected.rule) == (summary.priority.level, summary.priority.rule)
    if not checks["priority_rule_applied"]:
        problems.append(
            f"priority {summary.priority.level}/{summary.priority.rule}, rules give {expected.level}/{expected.rule}"
        )

    if transcript is not None:
        listed = {p.text for p in summary.promises}
        unlisted = [p.text for p in promises_in(transcript) if p.text not in listed]
        checks["promises_listed"] = not unlisted
        if unlisted:
            problems.append(f"{len(unlisted)} promise(s) not listed, e.g. {unlisted[0]!r}")

    private = summary.verified_facts or summary.customer.customer_id or summary.customer.status
    checks["visitor_has_no_account_data"] = summary.customer.verified or not private
    if not checks["visitor_has_no_account_data"]:
        problems.append("an unverified visitor's summary carries account data")

    no_source = [f.label for f in summary.verified_facts if not f.source.strip()]
    checks["facts_have_sources"] = not no_source
    if no_source:
        problems.append(f"verified facts without a source: {no_source}")

    return QualityReport(passed=all(checks.values()), checks=checks, problems=problems)
