"""A renewal, trial end or cancellation date that is already behind the build's `now` is marked, not upcoming."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, render_context
from context.profiles import recompute_profiles
from demo import context_config as demo_context_config
from tests.context.profiles.factories import customer, day, subscription

NEW_YORK = ZoneInfo("America/New_York")


def test_a_renewal_after_now_is_upcoming_and_one_before_now_is_marked_stale(engine: Engine) -> None:
    cid = customer(engine)
    subscription(engine, cid, "sub_RENEW", "active", plan="pro", started_at=day(-300), current_period_end=day(9))
    recompute_profiles(now=day(0), engine=engine, config=demo_context_config().profiles, customer_ids=[cid])

    before = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=day(8))
    assert before.subscriptions.items[0].passed == [] and before.status.passed == []
    assert not any("has passed" in g for g in before.gaps)
    assert "PASSED" not in render_context(before, timezone=NEW_YORK).text

    after = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=day(30))
    assert after.subscriptions.items[0].passed == ["current_period_end"]
    assert after.status.passed == ["renewal_at"]
    gap = next(g for g in after.gaps if "has passed" in g)
    assert gap.startswith("renewal date 2026-11-10") and "sub_RENEW" in gap and "may be stale" in gap
    text = render_context(after, timezone=NEW_YORK).text
    assert "renews 2026-11-10 (PASSED" in text and "period ends 2026-11-10 (PASSED" in text
    assert "Unknown / stale:" in text and "renewal date 2026-11-10" in text
    assert "renews 2026-11-10 — its date has PASSED" in text  # the status line, too


def test_passed_trial_end_and_cancellation_are_marked_but_an_ended_or_past_due_one_is_history(engine: Engine) -> None:
    trial = customer(engine)
    subscription(
        engine,
        trial,
        "sub_TRIAL",
        "trialing",
        plan="plus",
        started_at=day(-10),
        trial_end=day(4),
        current_period_end=day(4),
    )
    cancelling = customer(engine)
    subscription(
        engine,
        cancelling,
        "sub_CANCEL",
        "active",
        plan="pro",
        started_at=day(-200),
        current_period_end=day(14),
        cancel_at=day(14),
    )
    ended = customer(engine)
    subscription(
        engine,
        ended,
        "sub_ENDED",
        "canceled",
        plan="basic",
        started_at=day(-200),
        canceled_at=day(-40),
        current_period_end=day(-30),
    )
    overdue = customer(engine)
    subscription(
        engine, overdue, "sub_DUE", "past_due", plan="basic", started_at=day(-200), current_period_end=day(-12)
    )
    recompute_profiles(
        now=day(0),
        engine=engine,
        config=demo_context_config().profiles,
        customer_ids=[trial, cancelling, ended, overdue],
    )

    def passed(cid: str, now_day: float) -> list[str]:
        return (
            build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=day(now_day))
            .subscriptions.items[0]
            .passed
        )

    assert passed(trial, 3) == [] and passed(cancelling, 13) == []
    assert passed(trial, 5) == ["trial_end", "current_period_end"]
    assert passed(cancelling, 15) == ["cancel_at"]
    ctx = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cancelling, now=day(15))
    assert ctx.status.passed == ["ends_at"]
    assert any(g.startswith("cancellation date 2026-11-15") for g in ctx.gaps)
    # Dates of an ended subscription, and the missed due date of a past-due one, are the past they describe.
    assert passed(ended, 0) == [] and passed(overdue, 0) == []
