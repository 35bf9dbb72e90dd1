"""Records of the same order or of overlapping subscriptions that disagree are marked, never resolved."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from context.customer_context import ContextConfig, build_customer_context
from context.profiles import recompute_profiles
from demo import context_config as demo_context_config
from tests.context.profiles.factories import customer, day, order, subscription

NOW = day(0)


def test_same_order_number_with_other_status_is_marked_with_sources_and_values(engine: Engine) -> None:
    cid = customer(engine)
    order(engine, cid, "#3001", day(-5), fulfillment_status="fulfilled", tracking_numbers=["1Z777"], carrier="UPS")
    order(engine, cid, "3001", day(-5), fulfillment_status="restocked", financial_status="refunded")
    order(engine, cid, "#3002", day(-9), fulfillment_status="fulfilled")
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    ctx = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=NOW)
    marked = [o for o in ctx.orders.recent if o.number and o.number.lstrip("#") == "3001"]
    assert len(marked) == 2 and all(o.conflicts for o in marked)
    status = next(c for c in marked[0].conflicts if c.field == "fulfillment_status")
    assert sorted(v.value or "" for v in status.values) == ["fulfilled", "restocked"]
    assert all(v.source == "shopify" and v.record and v.as_of is not None for v in status.values)
    # An empty tracking number does not contradict a known one; the other order is untouched.
    assert not any(c.field == "tracking_numbers" for c in marked[0].conflicts)
    assert next(o for o in ctx.orders.recent if o.number == "#3002").conflicts == []


def test_overlapping_subscription_disagreeing_is_marked_but_an_old_ended_one_is_not(engine: Engine) -> None:
    cid = customer(engine)
    subscription(engine, cid, "sub_NOW", "active", plan="plus", started_at=day(-100), current_period_end=day(20))
    subscription(
        engine,
        cid,
        "sub_OLD",
        "canceled",
        plan="basic",
        started_at=day(-900),
        canceled_at=day(-400),
        current_period_end=day(-390),
    )
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    ctx = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=NOW)
    assert [s.conflicts for s in ctx.subscriptions.items] == [[], []]

    subscription(
        engine,
        cid,
        "sub_CLASH",
        "canceled",
        plan="basic",
        started_at=day(-300),
        canceled_at=day(-10),
        current_period_end=day(-5),
    )
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    ctx = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=NOW)
    current = ctx.subscriptions.items[0]
    assert current.ref == "sub_NOW"
    by_field = {c.field: sorted(v.value or "" for v in c.values) for c in current.conflicts}
    assert by_field["status"] == ["active", "canceled"] and by_field["plan"] == ["basic", "plus"]
    assert {v.record for c in current.conflicts for v in c.values} == {"sub_NOW", "sub_CLASH"}


def test_a_withheld_field_never_appears_through_its_conflict_note(engine: Engine) -> None:
    from context.customer_context.privacy import PrivacyPolicy, PurposePolicy

    cid = customer(engine)
    order(engine, cid, "#3101", day(-3), fulfillment_status="fulfilled", tracking_numbers=["1Z111AAA"], carrier="UPS")
    order(engine, cid, "3101", day(-3), fulfillment_status="fulfilled", tracking_numbers=["1Z222BBB"], carrier="UPS")
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    open_ctx = build_customer_context(config=demo_context_config(), engine=engine, customer_id=cid, now=NOW)
    assert any(c.field == "tracking_numbers" for o in open_ctx.orders.recent for c in o.conflicts)
    config = ContextConfig(
        privacy=PrivacyPolicy(purposes={"llm_prompt": PurposePolicy(deny=["orders.tracking_numbers"])})
    )
    ctx = build_customer_context(engine=engine, customer_id=cid, purpose="llm_prompt", config=config, now=NOW)
    dumped = ctx.model_dump_json()
    assert "1Z111AAA" not in dumped and "1Z222BBB" not in dumped
    assert "orders.tracking_numbers" in ctx.withheld


def test_the_prompt_rendering_spells_out_disagreeing_records(engine: Engine) -> None:
    from context.customer_context import render_context

    cid = customer(engine)
    order(engine, cid, "#3201", day(-2), fulfillment_status="fulfilled", tracking_numbers=["1Z333"], carrier="UPS")
    order(engine, cid, "3201", day(-2), fulfillment_status="restocked")
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    ctx = build_customer_context(
        config=demo_context_config(), engine=engine, customer_id=cid, purpose="llm_prompt", now=NOW
    )
    text = render_context(ctx, max_tokens=2000).text
    assert "RECORDS DISAGREE" in text
    line = next(part for part in text.split("\n") if "RECORDS DISAGREE" in part)
    assert "fulfillment_status" in line and "fulfilled" in line and "restocked" in line
