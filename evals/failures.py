"""Failure patterns: tag every failed expectation with a cause, and rank causes across a run.

Causes, checked in this order (the first that explains the failure wins):
`target_error` / `llm_error` (the agent did not answer, or its model failed), `privacy_leak`, `invented_fact`,
`identity` (a customer scenario that reached the agent unverified or as someone else), `wrong_route`,
`escalation_decision`, `retrieval_miss` (the article that holds the answer was not retrieved),
`missing_context_field` (the fact is not in the customer's context at all), `privacy_block` (the privacy
policy withheld the field the answer needed), `stale_source` (the context says a source is out of date),
`grounding_check` (an LLM reply was caught and replaced), and otherwise `answer_content`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from evals.expectations import Truth, fact_present
from evals.models import Cause, ExpectationResult, Scenario, ScenarioResult, TurnResult
from evals.truth import field_holding

_LLM_FAILURE = ("LLMError", "Timeout", "timeout", "RateLimit", "CircuitOpen", "Unavailable", "ServerError")
_FIELD_OF_KIND = {
    "order": "orders.number",
    "tracking": "orders.tracking_numbers",
    "date": "subscriptions / status dates",
    "amount": "amounts",
}


_PERTURBATION_CAUSE: dict[str, Cause] = {
    "source_removed": "missing_context_field",
    "field_blanked": "missing_context_field",
    "stale": "stale_source",
    "conflict": "identity",  # a conflicting record merged into the customer
}


def _llm_failed(turn: TurnResult) -> bool:
    reason = turn.fallback_reason or ""
    return bool(reason) and not reason.startswith("grounding check") and any(w in reason for w in _LLM_FAILURE)


def _article_of(fact: str, kb: dict[str, str]) -> list[str]:
    return [slug for slug, body in kb.items() if fact_present(fact, body)]


def tag(
    exp: ExpectationResult,
    *,
    turn: TurnResult,
    scenario: Scenario,
    truth: Truth,
    kb: dict[str, str],
    expected_customer: str | None,
) -> tuple[Cause, str | None]:
    """The cause of one failed expectation, and the context field involved (for missing/blocked fields)."""
    if turn.error:
        return ("llm_error" if any(w in turn.error for w in _LLM_FAILURE) else "target_error"), None
    if exp.kind == "privacy":
        return "privacy_leak", None
    if exp.kind == "no_invented_facts":
        return ("grounding_check" if turn.grounding_issues else "invented_fact"), None
    if _llm_failed(turn):
        return "llm_error", None
    if turn.responder == "none" and turn.reply is None:
        return "escalation_decision", None  # a person has the conversation since an earlier escalation
    if scenario.customer.verified and (
        turn.verified is False or (expected_customer is not None and turn.customer_id not in {None, expected_customer})
    ):
        return "identity", None
    if scenario.customer.verified and expected_customer is None and exp.kind in {"contains", "uses_fields"}:
        return "identity", None  # e.g. a shared email: no single customer resolved
    if exp.kind == "route":
        return "wrong_route", None
    if exp.kind in {"escalate", "reason_code"}:
        return "escalation_decision", None
    if exp.kind == "cites":
        slug = exp.expected.split("#", 1)[0]
        retrieved = {str(p.get("url", "")).rstrip("/").rsplit("/", 1)[-1] for p in turn.passages}
        return ("answer_content" if slug in retrieved else "retrieval_miss"), None
    if exp.kind in {"contains", "any_of", "uses_fields"}:
        values = exp.expected.split(" | ") if exp.kind == "any_of" else [exp.expected]
        if exp.kind == "uses_fields":
            field = exp.detail.split("not used: ", 1)[-1].split(" (", 1)[0]
            return _field_cause(field, turn, truth, in_context=True)
        holders = [field_holding(truth, v) for v in values]
        holder = next((h for h in holders if h), None)
        if holder is not None:
            return _field_cause(holder, turn, truth, in_context=True)
        if any(_article_of(v, kb) for v in values):
            slugs = {s for v in values for s in _article_of(v, kb)}
            retrieved = {str(p.get("url", "")).rstrip("/").rsplit("/", 1)[-1] for p in turn.passages}
            return ("answer_content" if slugs & retrieved else "retrieval_miss"), None
        hint = _route_hint(scenario, turn.index)
        if hint is not None and turn.route != hint:
            return "wrong_route", None
        from evals.expectations import classify

        if scenario.customer.verified:
            return "missing_context_field", _FIELD_OF_KIND.get(classify(values[0]).kind, "context")
        return "answer_content", None
    if exp.kind == "says_unknown_or_escalates":
        return "answer_content", None
    if turn.grounding_issues:
        return "grounding_check", None
    return "answer_content", None


def _route_hint(scenario: Scenario, index: int) -> str | None:
    for t in scenario.turns[: index + 1][::-1]:
        if t.expect.route:
            return t.expect.route
    return None


def _field_cause(field: str, turn: TurnResult, truth: Truth, *, in_context: bool) -> tuple[Cause, str | None]:
    parts = [p for p in field.split(".") if p not in {"recent", "items", "open", "recent_resolved"}]
    top = ".".join(parts[:2])
    if top in turn.privacy_withheld or any(field.startswith(w) for w in turn.privacy_withheld):
        return "privacy_block", top
    if any(d.startswith(top.split(".")[0]) for d in turn.context_dropped):
        return "missing_context_field", top
    section = top.split(".")[0]
    words = {"orders": "order", "subscriptions": "billing", "status": "billing", "tickets": "ticket", "crm": "CRM"}
    word = words.get(section, section)
    if any(word in g and ("last synced" in g or "never synced" in g or "not connected" in g) for g in truth.gaps):
        return "stale_source", top
    if turn.grounding_issues:
        return "grounding_check", top
    return "answer_content", top


def tag_scenario(
    result: ScenarioResult, *, scenario: Scenario, truth: Truth, kb: dict[str, str], expected_customer: str | None
) -> None:
    """Assign a cause to every failed expectation of a scenario run (in place)."""
    for turn in result.turns:
        for exp in turn.expectations:
            if exp.passed is False and exp.cause is None:
                cause, field = tag(
                    exp, turn=turn, scenario=scenario, truth=truth, kb=kb, expected_customer=expected_customer
                )
                if result.perturbation and cause == "answer_content":
                    # Under a perturbation the changed data is the reason the answer broke.
                    cause = _PERTURBATION_CAUSE[result.perturbation.split(":", 1)[0]]
                exp.cause = cause
                if field and field not in exp.detail:
                    exp.detail = f"{exp.detail} [field {field}]".strip()


def rank_causes(results: list[ScenarioResult]) -> list[dict[str, Any]]:
    """Causes by the number of failed expectations they explain, with the scenarios and fields involved."""
    counts: Counter[str] = Counter()
    scenarios: dict[str, set[str]] = {}
    fields: dict[str, Counter[str]] = {}
    for r in results:
        for _, exp in r.failures():
            cause = exp.cause or "answer_content"
            counts[cause] += 1
            scenarios.setdefault(cause, set()).add(r.key)
            if "[field " in exp.detail:
                fields.setdefault(cause, Counter())[exp.detail.rsplit("[field ", 1)[1].rstrip("]")] += 1
    return [
        {
            "cause": cause,
            "failures": n,
            "scenarios": len(scenarios[cause]),
            "fields": dict(fields.get(cause, Counter()).most_common()),
            "examples": sorted(scenarios[cause])[:5],
        }
        for cause, n in counts.most_common()
    ]
