"""The person taking over sees a renewal date that is already behind "now" marked as passed, not as upcoming."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context
from context.profiles import recompute_profiles
from demo import context_config as demo_context_config
from handoff.summary import verified_facts
from tests.context.profiles.factories import customer, day, subscription


def test_verified_facts_mark_a_passed_renewal_and_leave_an_upcoming_one_plain(engine: Engine) -> None:
    cid = customer(engine)
    subscription(engine, cid, "sub_HANDOFF", "active", plan="plus", started_at=day(-40), current_period_end=day(2))
    recompute_profiles(now=day(0), engine=engine, config=demo_context_config().profiles, customer_ids=[cid])

    def facts(now_day: float) -> str:
        ctx = build_customer_context(
            config=demo_context_config(), engine=engine, customer_id=cid, purpose="handoff", now=day(now_day)
        )
        return " | ".join(f.value for f in verified_facts(ctx, "plan_renewal", []))

    assert "renews 2026-11-03" in facts(1) and "PASSED" not in facts(1)
    later = facts(5)
    assert "renews 2026-11-03 (PASSED" in later and "period ends 2026-11-03 (PASSED)" in later
