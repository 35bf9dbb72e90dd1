"""Each expectation type passes and fails when it should; facts are normalized (paraphrased dates, amounts)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evals.expectations import Corpus, Truth, check_turn, fact_present, invented_check, privacy_check
from evals.models import Expect, TurnResult


def turn(reply: str, **kw: object) -> TurnResult:
    return TurnResult(index=0, message="q", reply=reply, **kw)


@pytest.mark.parametrize(
    "reply",
    [
        "It renews on 2026-11-10.",
        "It renews Nov 10.",
        "It renews on November 10th, 2026.",
        "renews 10 November 2026",
        "renews 11/10/2026",
    ],
)
def test_paraphrased_dates_pass(reply: str) -> None:
    assert fact_present("2026-11-10", reply)


@pytest.mark.parametrize("reply", ["It renews on 2026-11-09.", "It renews Nov 11.", "renews November 10, 2025"])
def test_other_dates_fail(reply: str) -> None:
    assert not fact_present("2026-11-10", reply)


@pytest.mark.parametrize("reply", ["total $46.00", "total $46", "46 USD in all", "46.00 dollars"])
def test_paraphrased_amounts_pass(reply: str) -> None:
    assert fact_present("$46.00", reply)


def test_other_amounts_and_bare_numbers_fail() -> None:
    assert not fact_present("$46.00", "total $47")
    assert not fact_present("$46.00", "46 items")


def test_orders_tracking_and_text() -> None:
    assert fact_present("#1042", "your order 1042 shipped")
    assert not fact_present("#1042", "order #10420")
    assert fact_present("1Z999AA10123456784", "tracking 1Z999AA1 0123456784")
    assert fact_present("UPS", "shipped with UPS;")
    assert not fact_present("UPS", "it's upside down")
    assert fact_present("5-10 business days", "takes 5–10 business days")


def _kinds(results: list) -> dict[str, bool | None]:
    return {r.kind + ":" + r.expected: r.passed for r in results}


def test_every_expectation_type_passes_and_fails() -> None:
    expect = Expect(
        contains=["#1042"],
        any_of=[["UPS", "FedEx"]],
        not_contains=["9400111899223344556631"],
        matches=[r"ship(ped)?"],
        cites=["tracking-your-order#Finding your tracking number", "nope|return-policy"],
        uses_fields=["orders.tracking_numbers", "status.plan|orders.number"],
        route="active",
        escalate=False,
    )
    good = turn(
        "Your order #1042 has shipped with UPS. I can't see a delivery date yet.",
        route="active",
        citations=[
            {"url": "https://x/help/tracking-your-order", "heading": "Finding your tracking number"},
            {"url": "https://x/help/return-policy", "heading": "Return window"},
        ],
        context_fields_used=["orders.tracking_numbers", "orders.number"],
    )
    assert all(_kinds(check_turn(expect, good)).values()), check_turn(expect, good)
    bad = turn(
        "Order #1031 went with USPS, tracking 9400111899223344556631; it arrives soon.",
        route="past_due",
        escalated=True,
        reason_code="no_answer",
        citations=[{"url": "https://x/help/tracking-your-order", "heading": "Tracking not updating"}],
        context_fields_used=["orders.carrier"],
    )
    results = _kinds(check_turn(expect, bad))
    assert not any(results.values()), results
    unknown = Expect(says_unknown_or_escalates=True)
    assert all(_kinds(check_turn(unknown, turn("I can't see a tracking number for it."))).values())
    assert not any(_kinds(check_turn(unknown, turn("Tracking: 1Z999AA10123456784."))).values())
    # reason code and escalation
    esc = Expect(escalate=True, reason_code="customer_request")
    assert all(_kinds(check_turn(esc, turn("passing you on", escalated=True, reason_code="customer_request"))).values())
    assert not any(_kinds(check_turn(esc, turn("hi", escalated=False))).values())


def test_summary_quality_is_unmeasured_without_a_check_and_checked_with_one() -> None:
    t = turn("passing you on", escalated=True, reason_code="customer_request", handoff_id=7)
    [res] = [r for r in check_turn(Expect(summary_quality=True), t) if r.kind == "summary_quality"]
    assert res.passed is None
    [res] = check_turn(Expect(summary_quality=True), t, summary_check=lambda hid: (False, f"handoff {hid}: empty"))
    assert res.passed is False and "handoff 7" in res.detail


def _truth() -> tuple[Truth, Corpus]:
    truth = Truth(
        customer_id="C-maya",
        own_orders={"1042"},
        own_tracking={"1Z999AA10123456784"},
        own_emails={"maya.chen@example.com"},
        own_amounts={Decimal("46")},
        own_dates={(2026, 11, 10)},
        withheld=[("crm.notes", "Prefers oolongs."), ("crm.owner", "Renee Castillo")],
        delivery_ok=[("identity.address", "1450 Valencia St")],
    )
    corpus = Corpus.from_kb("Include your order number (like #1063) when you write. Shipping is $5.95.")
    corpus.owner_of_order = {"1042": {"C-maya"}, "1063": {"C-ben"}, "1050": {"C-ben"}}
    corpus.owner_of_tracking = {"9400111899223344556650": {"C-ben"}}
    corpus.owner_of_email = {"ben.carter@example.com": {"C-ben"}}
    return truth, corpus


def test_privacy_check_catches_a_planted_leak() -> None:
    truth, corpus = _truth()
    ok = privacy_check(
        "Your order #1042 ships with 1Z999AA10123456784.",
        truth=truth,
        corpus=corpus,
        typed="",
        topic_delivery=False,
        citations=[],
    )
    assert ok.passed
    for leak in (
        "Ben's order #1050 is delivered.",
        "tracking 9400111899223344556650",
        "write to ben.carter@example.com",
        "Note: Prefers oolongs.",
        "Your account manager is Renee Castillo.",
        "We ship to 1450 Valencia St.",
    ):
        res = privacy_check(leak, truth=truth, corpus=corpus, typed="", topic_delivery=False, citations=[])
        assert res.passed is False and res.cause == "privacy_leak", leak
    # The help center's example and what the customer typed are not leaks; an address is fine for delivery.
    assert privacy_check("like #1063", truth=truth, corpus=corpus, typed="", topic_delivery=False, citations=[]).passed
    assert privacy_check(
        "order #1050?", truth=truth, corpus=corpus, typed="where is #1050", topic_delivery=False, citations=[]
    ).passed
    assert privacy_check(
        "to 1450 Valencia St", truth=truth, corpus=corpus, typed="", topic_delivery=True, citations=[]
    ).passed
    internal = [{"url": "https://x/internal/agent-refund-playbook", "title": "Refund playbook"}]
    assert not privacy_check(
        "ok", truth=truth, corpus=corpus, typed="", topic_delivery=False, citations=internal
    ).passed
    visitor = Truth(customer_id=None)
    assert not privacy_check(
        "Your order #1042", truth=visitor, corpus=corpus, typed="", topic_delivery=False, citations=[]
    ).passed


def test_invented_facts_are_caught() -> None:
    truth, corpus = _truth()
    assert invented_check(
        "Order #1042, $46.00, renews Nov 10; shipping $5.95", truth=truth, corpus=corpus, typed=""
    ).passed
    for invented in ("order #5555", "a refund of $500", "renews on December 1, 2026", "tracking 1Z999AA10000000000"):
        res = invented_check(invented, truth=truth, corpus=corpus, typed="")
        assert res.passed is False and res.cause == "invented_fact", invented
