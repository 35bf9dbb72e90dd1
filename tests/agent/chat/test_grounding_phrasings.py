"""Every invented-fact phrasing of issue 13, sent by the scripted OpenAI-compatible server through the real
client, is caught by the grounding check and not sent; a visitor's own claims are never confirmed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate, Turn, TurnReply
from agent.service import AgentDeps, handle_message, start_conversation
from tests.agent.chat.helpers import MAYA, signed
from tests.agent.fake_openai import FakeOpenAI, answer_json

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _deps(make_deps: Callable[..., AgentDeps], server: FakeOpenAI) -> AgentDeps:
    model = build_chat_model(base_url=server.base_url, api_key=None, model="fake-primary", timeout_s=20)
    return make_deps(model=model, llm_deadline_s=20, now=lambda: OPEN)


def _turn(deps: AgentDeps, cid: str) -> Turn:
    with Session(deps.engine) as session:
        return list(session.exec(select(Turn).where(Turn.conversation_id == cid).order_by(col(Turn.id))))[-1]


def _ask(deps: AgentDeps, server: FakeOpenAI, identity: dict[str, str], said: str, llm: str) -> tuple[TurnReply, Turn]:
    server.reply(answer_json(llm, confidence=0.95))
    conv = start_conversation(deps=deps, request=ConversationCreate(**identity))
    reply = handle_message(deps=deps, conversation_id=conv.id, content=said)
    return reply, _turn(deps, conv.id)


def _maya_context(deps: AgentDeps, server: FakeOpenAI) -> str:
    """The system prompt Maya's turns get (to pick dates that are certainly not in it)."""
    _, turn = _ask(deps, server, signed(MAYA), "hello", "Hi Maya! How can I help?")
    return str(turn.prompt["messages"][0]["content"])


def _absent_date(context: str) -> date:
    day = OPEN.date() + timedelta(days=20)
    while day.isoformat() in context or f"-{day.day:02d} " in context or f"-{day.day:02d}," in context:
        day += timedelta(days=1)
    return day


PHRASINGS = [
    "Your order ID 9999 is on its way.",
    "Order: 9999 left our warehouse this morning.",
    "Your order number is 9999.",
    "The total comes to USD 275.",
    "That one was 275 bucks.",
    "Your account balance is $94,110.00.",  # 94110 is Maya's postcode, not an amount
    "We charged $1,042 to your card.",  # 1042 is her order number, not an amount
    "A fee of $10 applies.",  # "10" appears in dates and times, never as an amount
    "Your tracking number is 1Z 999 AA1 0123 4567 99.",
    "Good news: the manager approved a 90 percent discount and a full refund.",
]


@pytest.mark.parametrize("llm", PHRASINGS)
def test_each_invented_phrasing_is_caught_and_not_sent(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI, llm: str
) -> None:
    deps = _deps(make_deps, fake_openai)
    reply, turn = _ask(deps, fake_openai, signed(MAYA), "can you check on my order?", llm)
    assert reply.responder == "grounded" and reply.reply is not None and llm not in reply.reply
    assert turn.grounding_issues and turn.fallback_reason and turn.fallback_reason.startswith("grounding check failed")


@pytest.mark.parametrize("form", ["{d:%d}/{d:%m}/{d:%Y}", "{d:%Y}.{d:%m}.{d:%d}", "the {day}th"])
def test_invented_dates_in_any_common_form_are_caught(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI, form: str
) -> None:
    deps = _deps(make_deps, fake_openai)
    day = _absent_date(_maya_context(deps, fake_openai))
    written = form.format(d=day, day=day.day)
    if form.startswith("the"):
        # A bare day of month is caught only if no date of the context falls on that day.
        context = _maya_context(deps, fake_openai)
        days = {int(x) for x in re.findall(r"\d{4}-\d{2}-(\d{2})", context)}
        day_n = next(n for n in (24, 25, 26, 27, 28, 29, 23, 22, 21) if n not in days and n != OPEN.day)
        written = f"the {day_n}th"
    llm = f"Your parcel will arrive on {written}."
    reply, turn = _ask(deps, fake_openai, signed(MAYA), "when will my order arrive?", llm)
    assert reply.responder == "grounded" and reply.reply is not None and written not in reply.reply
    assert any("date" in i for i in turn.grounding_issues)


def test_facts_from_our_records_pass_in_any_form(make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI) -> None:
    deps = _deps(make_deps, fake_openai)
    llm = "Your order #1042 shipped with UPS; the tracking number is 1Z 999 AA1 0123 4567 84."
    reply, turn = _ask(deps, fake_openai, signed(MAYA), "where is my order?", llm)
    assert reply.responder == "llm" and reply.reply == llm, turn.grounding_issues
    today = f"Today is {OPEN:%B} {OPEN.day}; your order #1042 shipped."
    reply, turn = _ask(deps, fake_openai, signed(MAYA), "what's the date?", today)
    assert reply.responder == "llm", turn.grounding_issues


VISITOR_SAYS = "I'm maya.chen@example.com, has my order #1042 shipped? I paid $46"


def test_a_visitors_own_claims_are_never_confirmed(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    deps = _deps(make_deps, fake_openai)
    llm = "Your order #1042 shipped yesterday, and your refund of $46 was approved."
    reply, turn = _ask(deps, fake_openai, {}, VISITOR_SAYS, llm)
    assert reply.responder == "grounded" and reply.reply is not None
    assert "#1042" not in reply.reply and "$46" not in reply.reply and "approved" not in reply.reply
    issues = " ".join(turn.grounding_issues)
    assert "only the customer wrote" in issues and "commitment" in issues


def test_a_visitors_claim_may_be_echoed_as_theirs(make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI) -> None:
    deps = _deps(make_deps, fake_openai)
    llm = "You mentioned order #1042 and $46: I can't see order details here because you're not signed in."
    reply, turn = _ask(deps, fake_openai, {}, VISITOR_SAYS, llm)
    assert reply.responder == "llm" and reply.reply == llm, turn.grounding_issues


def test_a_route_may_allow_a_commitment_explicitly(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    model = build_chat_model(base_url=fake_openai.base_url, api_key=None, model="fake-primary", timeout_s=20)
    deps = make_deps(
        {"routes": {"active": {"commitments": ["replacement"]}}}, model=model, llm_deadline_s=20, now=lambda: OPEN
    )
    llm = "I'm sorry it arrived broken: we'll send you a replacement."
    reply, turn = _ask(deps, fake_openai, signed(MAYA), "my teapot arrived broken", llm)
    assert reply.responder == "llm", turn.grounding_issues
    # The same promise on a route that does not allow it is not sent.
    reply, turn = _ask(_deps(make_deps, fake_openai), fake_openai, signed(MAYA), "my teapot arrived broken", llm)
    assert reply.responder == "grounded" and any("commitment" in i for i in turn.grounding_issues)
