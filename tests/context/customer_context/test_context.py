"""The customer context: sections, gaps, privacy policy, lookups and the token budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from context.canonical.models import Order, Ticket
from context.customer_context import (
    ContextConfig,
    CustomerContext,
    build_customer_context,
    lookup_customer,
    render_context,
)
from context.customer_context.config import parse_context_config
from context.customer_context.errors import LookupInputError, PrivacyConfigError, ProfileNotReadyError
from context.customer_context.privacy import mask_cards
from context.dbtypes import table_of
from context.errors import CustomerNotFoundError
from context.profiles import recompute_profiles
from context.profiles.models import CustomerProfile
from demo import context_config as demo_context_config
from tests.context.profiles.factories import (
    customer,
    day,
    interaction,
    order,
    record,
    subscription,
    sync_run,
    ticket,
)

NOW = day(0)
SECRET_NOTE = "SECRET-NOTE-owes-us-a-favour"
SECRET_STREET = "17 Hidden Lane"
SECRET_SHIP = "99 Parcel Road"
CARD = "4242 4242 4242 4242"


def _rich_customer(engine: Engine) -> str:
    cid = customer(engine)
    record(
        engine,
        cid,
        "crm",
        "c1",
        email="ana@example.com",
        phone="+15125550100",
        full_name="Ana Ruiz",
        address=SECRET_STREET,
        city="Austin",
        postcode="78704",
        crm_owner="Alex Romero",
        lifecycle_stage="customer",
        notes=SECRET_NOTE,
    )
    subscription(engine, cid, "sub_R", "active", plan="plus", current_period_end=day(3), started_at=day(-100))
    order(engine, cid, "#2001", day(-2), shipping_address=SECRET_SHIP, tracking_numbers=["1Z999"], carrier="UPS")
    ticket(
        engine,
        cid,
        "T9",
        "open",
        day(-1),
        subject="Card problem",
        last_public_message=f"my card {CARD} was charged twice",
    )
    for source in ("crm", "shopify", "stripe", "zendesk"):
        sync_run(engine, source, NOW - timedelta(hours=1))
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles)
    return cid


def test_context_has_sections_with_freshness_and_sources(engine: Engine) -> None:
    cid = _rich_customer(engine)
    ctx = build_customer_context(
        config=demo_context_config(), engine=engine, customer_id=cid, purpose="handoff", now=NOW
    )
    assert ctx.identity.name == "Ana Ruiz"
    assert ctx.status.status == "active" and "sub_R" in ctx.status.cause
    assert ctx.status.renewal_at == day(3)
    assert [o.number for o in ctx.orders.recent] == ["#2001"]
    assert ctx.orders.recent[0].items and ctx.orders.recent[0].tracking_numbers == ["1Z999"]
    assert [t.ref for t in ctx.tickets.open] == ["T9"]
    assert ctx.crm.owner == "Alex Romero"
    assert ctx.orders.meta.sources == ["shopify"] and ctx.orders.meta.as_of == NOW - timedelta(hours=1)
    assert ctx.subscriptions.meta.sources == ["stripe"]
    email = next(i for i in ctx.identity.identifiers if i.kind == "email")
    assert email.verified and email.sources == ["crm"]
    assert ctx.gaps == []


def test_known_gaps_are_explicit(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", email="g@example.com")
    sync_run(engine, "crm", NOW - timedelta(hours=2))
    sync_run(engine, "shopify", NOW - timedelta(days=3, hours=1))
    config = ContextConfig(order_sources=["shopify"], ticket_sources=["zendesk"], crm_sources=["crm"])
    recompute_profiles(now=NOW, engine=engine, config=config.profiles, customer_ids=[cid])
    ctx = build_customer_context(engine=engine, customer_id=cid, config=config, now=NOW)
    assert any(g.startswith("no billing source connected") for g in ctx.gaps)
    assert any(g.startswith("orders last synced 3 days ago") for g in ctx.gaps)
    assert "support tickets source zendesk has never synced successfully" in ctx.gaps
    assert not any("CRM" in g for g in ctx.gaps)  # synced two hours ago: fresh


def _outputs(engine: Engine, cid: str, purpose: str, topic: str | None = None) -> list[str]:
    ctx = build_customer_context(
        config=demo_context_config(), engine=engine, customer_id=cid, purpose=purpose, topic=topic, now=NOW
    )  # type: ignore[arg-type]
    return [ctx.model_dump_json(), render_context(ctx, max_tokens=4000).text, render_context(ctx, max_tokens=150).text]


def test_privacy_policy_keeps_denied_fields_out_of_every_output(engine: Engine) -> None:
    cid = _rich_customer(engine)
    for out in _outputs(engine, cid, "llm_prompt"):
        assert SECRET_NOTE not in out  # internal notes never go to the LLM
        assert SECRET_STREET not in out and SECRET_SHIP not in out  # no addresses off-topic
        assert "78704" not in out
        assert CARD not in out and "4242424242424242" not in out
    for out in _outputs(engine, cid, "widget"):
        assert SECRET_NOTE not in out and "Alex Romero" not in out and SECRET_STREET not in out
    # A delivery question may see the shipping address, still not the notes.
    delivery = _outputs(engine, cid, "llm_prompt", topic="delivery")
    assert SECRET_SHIP in delivery[0] and SECRET_NOTE not in delivery[0]
    # The human colleague sees the notes; card numbers stay masked for everyone.
    handoff = _outputs(engine, cid, "handoff")
    assert SECRET_NOTE in handoff[0] and "[card ending 4242]" in handoff[0] and CARD not in handoff[0]
    ctx = build_customer_context(
        config=demo_context_config(), engine=engine, customer_id=cid, purpose="llm_prompt", now=NOW
    )
    assert "crm.notes" in ctx.withheld


def test_configured_policy_and_unknown_purpose() -> None:
    config = parse_context_config({"privacy": {"purposes": {"handoff": {"deny": ["crm.notes"]}}}})
    assert config.privacy.for_purpose("handoff").deny == ["crm.notes"]
    assert "crm.notes" in config.privacy.for_purpose("llm_prompt").deny  # untouched purposes keep defaults
    with pytest.raises(PrivacyConfigError, match="unknown fields"):
        parse_context_config({"privacy": {"purposes": {"widget": {"deny": ["crm.shoe_size"]}}}})
    with pytest.raises(PrivacyConfigError, match="unknown purpose"):
        config.privacy.for_purpose("marketing")


def test_card_masking_leaves_tracking_and_phone_numbers_alone() -> None:
    text = f"card {CARD} / 4111-1111-1111-1111, USPS 9400111899223344556631, phone +14152010101, order 1234567890123"
    masked = mask_cards(text)
    assert "[card ending 4242]" in masked and "[card ending 1111]" in masked
    assert "9400111899223344556631" in masked and "+14152010101" in masked
    assert "1234567890123" in masked  # 13 digits failing the Luhn check is not a card


def test_lookups_by_identifier_order_and_ambiguity(engine: Engine) -> None:
    sofia, daniel = customer(engine), customer(engine)
    record(engine, sofia, "crm", "s1", email="info@copperkettle.example", full_name="Sofia Rossi", postcode="97205")
    record(
        engine,
        daniel,
        "crm",
        "d1",
        email="info@copperkettle.example",
        full_name="Daniel Kim",
        postcode="97205",
        phone="+15032010108",
        identifiers={"stripe_customer": "stripe:cus_DK1"},
    )
    order(engine, sofia, "#1055", day(-3))
    twin = customer(engine)
    record(engine, twin, "webforms", "w1", full_name="Sofia Rossi", postcode="97205")
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles)

    shared = lookup_customer(engine=engine, email=" INFO@copperkettle.example ")
    assert shared.outcome == "ambiguous" and shared.customer_id is None
    assert {c.customer_id for c in shared.candidates} == {sofia, daniel}
    assert lookup_customer(engine=engine, order="1055").customer_id == sofia
    by_phone = lookup_customer(engine=engine, phone="(503) 201-0108")
    assert by_phone.outcome == "found" and by_phone.customer_id == daniel and by_phone.confidence > 0.5
    assert (
        lookup_customer(engine=engine, external_id="cus_DK1", external_id_formats=["stripe:{}"]).customer_id == daniel
    )
    assert lookup_customer(engine=engine, name="Daniel Kim", postcode="97205").customer_id == daniel
    same_name = lookup_customer(engine=engine, name="sofia  ROSSI", postcode="97205")
    assert same_name.outcome == "ambiguous" and {c.customer_id for c in same_name.candidates} == {sofia, twin}
    assert lookup_customer(engine=engine, email="nobody@example.com").outcome == "not_found"
    with pytest.raises(LookupInputError):
        lookup_customer(engine=engine, name="Sofia Rossi")
    with pytest.raises(CustomerNotFoundError):
        build_customer_context(config=demo_context_config(), now=NOW, engine=engine, customer_id="cus_nope")


def test_token_budget_keeps_newest_orders_and_open_tickets(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    cid = customer(engine)
    record(engine, cid, "crm", "c1", email="big@example.com", full_name="Big Spender")
    for n in range(12):
        order(engine, cid, f"#30{n:02d}", day(-100 + n * 7), items=3)
    for n in range(3):
        ticket(engine, cid, f"OPEN{n}", "open", day(-n), subject=f"Open question {n}")
    for n in range(4):
        ticket(
            engine,
            cid,
            f"DONE{n}",
            "solved",
            day(-30 - n),
            subject=f"Old question {n}",
            last_public_message="Thanks, all sorted now. " * 10,
        )
    for n in range(5):
        interaction(engine, cid, f"wf{n}", day(-200 + n), kind="newsletter_signup", message="Hello there " * 10)
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles)
    config = ContextConfig(recent_orders=10)
    ctx = build_customer_context(engine=engine, customer_id=cid, config=config, now=NOW)
    full = render_context(ctx, max_tokens=10_000)
    assert full.dropped == [] and "#3000" not in full.text and "#3002" in full.text  # only the 10 newest loaded
    small = render_context(ctx, max_tokens=450)
    assert small.tokens <= 450
    newest = "#3011"
    assert newest in small.text and "Tea #3011-2" in small.text  # newest order keeps its items
    for n in range(3):
        assert f"OPEN{n}" in small.text
    assert "#3002" not in small.text  # the oldest orders went first
    assert "Hello there" not in small.text and "DONE0" not in small.text
    assert any("older orders" in d for d in small.dropped) and any("interactions" in d for d in small.dropped)
    assert "Left out to fit" in small.text


def test_a_context_is_read_only_a_missing_profile_is_an_error_not_a_write(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "crm", "c1", email="nopro@example.com")
    with pytest.raises(ProfileNotReadyError, match="no profile yet"):
        build_customer_context(engine=engine, customer_id=cid, config=demo_context_config(), now=NOW)
    with engine.connect() as conn:  # nothing was computed behind the reader's back
        assert conn.execute(select(func.count()).select_from(CustomerProfile)).scalar_one() == 0


def test_a_bare_external_id_is_tried_only_in_the_configured_formats(engine: Engine) -> None:
    cid = customer(engine)
    record(engine, cid, "billing", "b1", email="fmt@example.com", identifiers={"billing_customer": "acme:cus_77"})
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles, customer_ids=[cid])
    # The demo's formats ("stripe:{}", …) know nothing of this store's "acme:{}" namespace.
    assert lookup_customer(engine=engine, external_id="cus_77").outcome == "not_found"
    found = lookup_customer(engine=engine, external_id="cus_77", external_id_formats=["acme:{}"])
    assert found.customer_id == cid


def test_section_sources_come_from_the_configured_sources_never_from_the_demo() -> None:
    assert ContextConfig().order_sources == [] and ContextConfig().verified_sources == []
    config = parse_context_config(
        {
            "sources": [
                {
                    "name": "till",
                    "entity": "order",
                    "identifiers": {"pos_customer": {"from": "cid", "format": "pos:{}"}},
                },
                {"name": "signup_form", "fields": {"email": "Email"}},
            ]
        }
    )
    assert config.order_sources == ["till"] and config.billing_sources == []
    # A system that issues account ids is a system of record; a form a visitor fills in is not.
    assert config.verified_sources == ["till"]
    assert config.external_id_formats == ["pos:{}"]


def test_the_next_context_sees_each_kind_of_change_whatever_the_clock(engine: Engine) -> None:
    # The record rows are cached between builds; every way the data changes must reach the next build, even
    # with a clock that never moves (a recompute at the same instant still gives the profile a new revision).
    cid = _rich_customer(engine)
    config = demo_context_config()

    def build() -> CustomerContext:
        return build_customer_context(config=config, engine=engine, customer_id=cid, purpose="handoff", now=NOW)

    assert build().orders.recent[0].carrier == "UPS"
    assert build().orders.recent[0].carrier == "UPS"  # from the cache
    orders, tickets = table_of(Order), table_of(Ticket)
    with engine.begin() as conn:  # a sync rewrites the order's row; the run that did it is recorded
        conn.execute(update(orders).where(orders.c.order_number == "#2001").values(carrier="FedEx"))
    sync_run(engine, "shopify", NOW - timedelta(hours=1))
    assert build().orders.recent[0].carrier == "FedEx"

    with engine.begin() as conn:  # a webhook's write, then its profile recompute (same clock reading)
        conn.execute(update(tickets).where(tickets.c.ticket_ref == "T9").values(status="solved"))
    recompute_profiles(now=NOW, engine=engine, config=config.profiles, customer_ids=[cid])
    after = build()
    assert after.tickets.open == [] and [t.ref for t in after.tickets.recent_resolved] == ["T9"]

    ticket(engine, cid, "T10", "open", day(-1), subject="A new one")  # a record joins the customer
    assert [t.ref for t in build().tickets.open] == ["T10"]
