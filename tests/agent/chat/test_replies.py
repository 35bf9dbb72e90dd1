"""Grounded replies a customer notices: dates in the business's time zone, small talk, the questions people ask
about their orders and plans, the fields a turn reports, and the configurable conversation rate limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from agent.errors import RateLimited
from agent.intents import detect_intent
from agent.models import ConversationCreate, TurnReply
from agent.service import AgentDeps, handle_message, list_turns, start_conversation
from context.canonical.models import CustomerRecord, Order
from context.customer_context import build_customer_context, lookup_customer, render_context
from context.dbtypes import table_of
from demo import context_config as demo_context_config
from tests.agent.chat.helpers import MAYA, PERSONA_EMAILS, signed
from tests.clock import NOW

OPEN = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York
LIAM = PERSONA_EMAILS["trial"]
PRIYA = PERSONA_EMAILS["past_due"]
NOAH = "noah.fischer@example.net"  # his #1060 was placed on the evening of Oct 22 in New York (Oct 23 in UTC)


def _chat(deps: AgentDeps, email: str | None, *messages: str) -> tuple[str, list[TurnReply]]:
    conv = start_conversation(deps=deps, request=ConversationCreate(**(signed(email) if email else {})))
    return conv.id, [handle_message(deps=deps, conversation_id=conv.id, content=m) for m in messages]


def test_trial_end_is_the_date_in_the_business_time_zone(make_deps: Callable[..., AgentDeps]) -> None:
    _, [ny] = _chat(make_deps(now=lambda: OPEN), LIAM, "When does my trial end?")
    assert "November 8, 2026" in (ny.reply or "") and "November 9" not in (ny.reply or "")
    assert not ny.escalation.escalate
    # The zone is configurable: shown in UTC, the same moment is already the 9th.
    _, [utc] = _chat(make_deps({"display_timezone": "UTC"}, now=lambda: OPEN), LIAM, "When does my trial end?")
    assert "November 9, 2026" in (utc.reply or "")


def test_order_placed_late_evening_keeps_its_local_date(make_deps: Callable[..., AgentDeps]) -> None:
    conv_id, [reply] = _chat(make_deps(now=lambda: OPEN), NOAH, "When did I place my last order?")
    assert (
        "#1060" in (reply.reply or "")
        and "October 22, 2026" in (reply.reply or "")
        and "October 23" not in (reply.reply or "")
    )
    assert not reply.escalation.escalate
    # The turns API reports which account facts the reply relied on (HTTP evals measure context use with it).
    [turn] = list_turns(engine=make_deps().engine, conversation_id=conv_id)
    assert {"orders.number", "orders.placed_at", "orders.total"} <= set(turn.context_fields_used)


def test_a_returned_order_is_said_to_be_returned(make_deps: Callable[..., AgentDeps]) -> None:
    # The demo maps Shopify's `restocked` to `returned` (its value maps); the default meaning of that word is
    # "was returned". A demo order of the fixture's data that was returned, with its customer's email:
    orders, records = table_of(Order), table_of(CustomerRecord)
    with make_deps().engine.connect() as conn:
        number, email = conn.execute(
            select(orders.c.order_number, records.c.email)
            .join(records, records.c.id == orders.c.record_id)
            .where(orders.c.fulfillment_status == "returned", records.c.email.is_not(None))
            .order_by(orders.c.order_number)
        ).first() or (None, None)
    assert number and email, "the fixture's demo data has a returned order"
    _, [reply] = _chat(make_deps(now=lambda: OPEN), email, f"What is the status of my order {number}?")
    text = reply.reply or ""
    assert f"Your order {number} (placed " in text and " was returned" in text, text
    assert "has the status" not in text and not reply.escalation.escalate


def test_rendered_context_shows_dates_in_the_given_zone(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    found = lookup_customer(engine=engine, email=NOAH)
    assert found.customer_id is not None
    ctx = build_customer_context(now=NOW, engine=engine, customer_id=found.customer_id, config=demo_context_config())
    local = render_context(ctx, max_tokens=4000, timezone=ZoneInfo("America/New_York")).text
    stored = render_context(ctx, max_tokens=4000).text
    assert "#1060 (shopify) placed 2026-10-22" in local
    assert "#1060 (shopify) placed 2026-10-23" in stored  # without a zone: as stored (UTC), unchanged


@pytest.mark.parametrize("email", [None, MAYA])
def test_greetings_and_thanks_get_a_friendly_reply_not_a_handoff(
    make_deps: Callable[..., AgentDeps], email: str | None
) -> None:
    _, replies = _chat(
        make_deps(now=lambda: OPEN), email, "hi there", "Where is my order?", "thanks, that's all", "Thank you!!"
    )
    hello, _, thanks, again = replies
    assert "How can I help" in (hello.reply or "")
    assert "welcome" in (thanks.reply or "").lower() and "welcome" in (again.reply or "").lower()
    # Saying thanks twice is politeness, not a loop.
    assert [r.escalation.escalate for r in (hello, thanks, again)] == [False, False, False]
    assert "passing this conversation" not in " ".join((r.reply or "") for r in (hello, thanks, again))


def test_small_talk_with_a_question_is_answered_as_the_question(make_deps: Callable[..., AgentDeps]) -> None:
    _, [reply] = _chat(make_deps(now=lambda: OPEN), MAYA, "Hi! Where is my order?")
    assert "#1042" in (reply.reply or "")


def test_still_a_member_question_answers_plan_and_status(make_deps: Callable[..., AgentDeps]) -> None:
    _, [reply] = _chat(make_deps(now=lambda: OPEN), MAYA, "Am I still a Plus member?")
    assert not reply.escalation.escalate
    # Maya is on Pro: the reply states her real plan and status, whatever plan the question names.
    assert "Pro plan" in (reply.reply or "") and "active" in (reply.reply or "")


def test_past_due_customer_asking_if_active_hears_about_the_failed_payment(
    make_deps: Callable[..., AgentDeps],
) -> None:
    _, [reply] = _chat(make_deps(now=lambda: OPEN), PRIYA, "Is my subscription still active?")
    assert "past due" in (reply.reply or "") and "payment method" in (reply.reply or "")
    assert "renews on" not in (reply.reply or "")
    assert not reply.escalation.escalate


def test_conversation_rate_limit_is_configurable(make_deps: Callable[..., AgentDeps]) -> None:
    assert make_deps().config.limits.conversations_per_minute_per_ip == 20  # the shipped default stays
    deps = make_deps({"limits": {"conversations_per_minute_per_ip": 2}})
    for _ in range(2):
        start_conversation(deps=deps, request=ConversationCreate(), client_ip="203.0.113.7")
    with pytest.raises(RateLimited):
        start_conversation(deps=deps, request=ConversationCreate(), client_ip="203.0.113.7")
    start_conversation(deps=deps, request=ConversationCreate(), client_ip="203.0.113.8")  # per address


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("hi there", "greeting"),
        ("Good morning!", "greeting"),
        ("thanks, that's all", "thanks"),
        ("ok, thank you so much, bye", "thanks"),
        ("Hi, where is my order?", "order_status"),
        ("thanks but my package never arrived", "order_status"),
        ("When did I place my last order?", "order_status"),
        ("my box is late again", "order_status"),
        ("how do I place an order?", "general"),
        ("What day did I order the teapot?", "order_status"),
        ("Am I still a Plus member?", "plan_renewal"),
        ("Any update on my ticket about the trial charge?", "ticket_status"),
        ("I want to cancel", "cancellation"),
    ],
)
def test_intents_of_everyday_messages(message: str, intent: str) -> None:
    assert detect_intent(message) == intent
