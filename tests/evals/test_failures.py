"""Failure tagging assigns the right cause to planted failures of each kind, and causes are ranked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evals.expectations import Truth, check_turn
from evals.failures import rank_causes, tag_scenario
from evals.models import Expect, ExpectationResult, Scenario, ScenarioResult, TurnResult

KB = {"refund-timing": "Your bank then takes 5-10 business days to show the money."}


def _truth(**fields: list[object]) -> Truth:
    base: dict[str, list[object]] = {
        "orders.recent.number": ["#1042"],
        "orders.recent.tracking_numbers": ["1Z999AA10123456784"],
        "status.renewal_at": [datetime(2026, 11, 10, 14, tzinfo=UTC)],
        "identity.address": ["1450 Valencia St"],
    }
    base.update(fields)
    return Truth(customer_id="C1", fields=base, gaps=[])


def _run(
    expect: Expect,
    turn: TurnResult,
    *,
    truth: Truth | None = None,
    verified: bool = True,
    planted: ExpectationResult | None = None,
    perturbation: str | None = None,
) -> str | None:
    customer = {"email": "maya.chen@example.com"} if verified else {"visitor": True}
    scenario = Scenario.model_validate(
        {"id": "s", "category": "order_status", "customer": customer, "turns": [{"say": "q", "expect": expect}]}
    )
    turn.expectations = [planted] if planted else check_turn(expect, turn)
    result = ScenarioResult(
        id="s",
        category="order_status",
        customer="x",
        passed=False,
        turns=[turn],
        duration_ms=1,
        perturbation=perturbation,
    )
    tag_scenario(
        result, scenario=scenario, truth=truth or _truth(), kb=KB, expected_customer="C1" if verified else None
    )
    failed = [e for e in turn.expectations if e.passed is False]
    assert failed, "the planted failure did not fail"
    return failed[0].cause


def t(reply: str | None = "Sorry, I can't help.", **kw: object) -> TurnResult:
    base: dict[str, object] = {
        "index": 0,
        "message": "q",
        "reply": reply,
        "verified": True,
        "customer_id": "C1",
        "route": "active",
    }
    base.update(kw)
    return TurnResult(**base)


def test_missing_field_in_context() -> None:
    # The reply lacks a tracking number that our data does not hold either.
    assert _run(Expect(contains=["9400111899220000000001"]), t()) == "missing_context_field"


def test_stale_source() -> None:
    truth = _truth()
    truth.gaps = ["orders last synced 4 days ago (shopify, 2026-10-29 15:00 UTC)"]
    assert _run(Expect(contains=["1Z999AA10123456784"]), t(), truth=truth) == "stale_source"


def test_unresolved_identity() -> None:
    assert _run(Expect(contains=["#1042"]), t(verified=False, customer_id=None)) == "identity"


def test_wrongly_merged_identity_under_a_conflicting_record() -> None:
    assert (
        _run(Expect(says_unknown_or_escalates=True), t("It was restocked."), perturbation="conflict:order")
        == "identity"
    )


def test_retrieval_miss() -> None:
    assert (
        _run(Expect(contains=["5-10 business days"]), t(passages=[{"url": "https://x/help/tracking-your-order"}]))
        == "retrieval_miss"
    )
    assert _run(Expect(cites=["refund-timing"]), t(passages=[])) == "retrieval_miss"


def test_wrong_route() -> None:
    assert _run(Expect(route="trial"), t(route="active")) == "wrong_route"


def test_grounding_check() -> None:
    issues = ["order number #5555 is not in the context"]
    assert _run(Expect(contains=["#1042"]), t(grounding_issues=issues)) == "grounding_check"


def test_llm_error_or_timeout() -> None:
    assert _run(Expect(contains=["#1042"]), t(fallback_reason="LLMTimeout: deadline of 30s exceeded")) == "llm_error"
    assert _run(Expect(contains=["#1042"]), t(reply=None, error="LLMError: upstream 503")) == "llm_error"


def test_privacy_block() -> None:
    assert _run(Expect(contains=["1450 Valencia St"]), t(privacy_withheld=["identity.address"])) == "privacy_block"


def test_privacy_leak_and_invented_fact_keep_their_causes() -> None:
    leak = ExpectationResult(kind="privacy", expected="x", passed=False, detail="order #1050 of another customer")
    assert _run(Expect(), t(), planted=leak) == "privacy_leak"
    invented = ExpectationResult(kind="no_invented_facts", expected="x", passed=False, detail="order #5555")
    assert _run(Expect(), t(), planted=invented) == "invented_fact"


@pytest.mark.parametrize("code", ["escalate", "reason_code"])
def test_escalation_decision(code: str) -> None:
    expect = Expect(escalate=True) if code == "escalate" else Expect(reason_code="loop")
    assert _run(expect, t(escalated=False)) == "escalation_decision"


def test_causes_are_ranked() -> None:
    def result(key: str, *causes: str) -> ScenarioResult:
        exps = [ExpectationResult(kind="contains", expected="x", passed=False, cause=c) for c in causes]
        return ScenarioResult(
            id=key,
            category="billing",
            customer="x",
            passed=False,
            duration_ms=1,
            turns=[TurnResult(index=0, message="q", expectations=exps)],
        )

    ranked = rank_causes([result("a", "retrieval_miss", "stale_source"), result("b", "retrieval_miss")])
    assert [r["cause"] for r in ranked] == ["retrieval_miss", "stale_source"]
    assert ranked[0]["failures"] == 2 and ranked[0]["scenarios"] == 2
