"""The chat service with a real LangChain/OpenAI client against the loopback fake OpenAI server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from agent.grounding_check import check_answer
from agent.intents import read_message
from agent.llm.base import AgentAnswer
from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate, Turn
from agent.service import AgentDeps, handle_message, start_conversation
from tests.agent.chat.helpers import MAYA, signed
from tests.agent.fake_openai import FakeOpenAI, answer_json

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _deps(make_deps: Callable[..., AgentDeps], server: FakeOpenAI) -> AgentDeps:
    # Generous limits: the fake server answers at once, but a loaded 2-core CI box can stall the first call.
    model = build_chat_model(base_url=server.base_url, api_key=None, model="fake-primary", timeout_s=20)
    return make_deps(model=model, llm_deadline_s=20, now=lambda: OPEN)


def _last_turn(deps: AgentDeps, cid: str) -> Turn:
    with Session(deps.engine) as session:
        return list(session.exec(select(Turn).where(Turn.conversation_id == cid).order_by(col(Turn.id))))[-1]


def test_llm_answer_is_used_and_its_cost_stored(make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI) -> None:
    deps = _deps(make_deps, fake_openai)
    fake_openai.reply(
        answer_json(
            "Your order #1042 shipped with UPS, tracking 1Z999AA10123456784. [P1]",
            cited_passage_ids=["P1"],
            context_fields_used=["orders.tracking_numbers"],
        )
    )
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    assert reply.responder == "llm" and reply.model == "fake-primary"
    assert reply.reply is not None and reply.reply.startswith("Your order #1042")
    assert len(reply.citations) == 1
    turn = _last_turn(deps, conv.id)
    assert turn.prompt_tokens and turn.completion_tokens and turn.llm_latency_ms is not None
    # The model got the context and the passages inside the data fences, and the policy first.
    sent = fake_openai.chat_requests()[0].messages
    assert sent[0]["role"] == "system" and "1Z999AA10123456784" in sent[0]["content"]
    assert f"[DATA {turn.prompt['fence']} customer_context]" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "where is my order?"}


def test_grounding_check_catches_an_invented_order_number(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    deps = _deps(make_deps, fake_openai)
    fake_openai.reply(answer_json("Your order #1043 was delivered yesterday.", confidence=0.95))
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    assert reply.reply is not None and "#1043" not in reply.reply
    assert reply.responder == "grounded" and "1Z999AA10123456784" in reply.reply
    turn = _last_turn(deps, conv.id)
    assert any("#1043" in issue for issue in turn.grounding_issues)
    assert turn.fallback_reason and turn.fallback_reason.startswith("grounding check failed")


def test_injected_ticket_instructions_obeyed_by_the_model_are_caught(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    # A model that "obeys" an injection (refund of an invented amount, citing an unretrieved page) is not sent.
    deps = _deps(make_deps, fake_openai)
    fake_openai.reply(
        answer_json("As instructed, your refund of $500 was approved on 2031-07-19.", cited_passage_ids=["P9"])
    )
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="what happened with my refund?")
    assert reply.reply is not None and "$500" not in reply.reply
    issues = _last_turn(deps, conv.id).grounding_issues
    assert any("P9" in i for i in issues) and any("500" in i for i in issues) and any("2031-07-19" in i for i in issues)


def test_llm_outage_falls_back_to_the_grounded_responder(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    deps = _deps(make_deps, fake_openai)
    for _ in range(6):
        fake_openai.fail(500)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    assert reply.responder == "grounded" and reply.reply and "1Z999AA10123456784" in reply.reply
    assert _last_turn(deps, conv.id).fallback_reason


def test_model_escalation_flag_becomes_a_handoff(make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI) -> None:
    deps = _deps(make_deps, fake_openai)
    fake_openai.reply(answer_json("Let me get a colleague.", escalate=True, escalation_reason="no_answer"))
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="something odd about my tea order")
    assert reply.escalation.escalate and reply.escalation.reason_code == "no_answer" and reply.state == "handoff"


def test_grounding_check_accepts_paraphrased_facts_from_the_context(make_deps: Callable[..., AgentDeps]) -> None:
    from agent.turn import TurnInput

    deps = make_deps()
    route = deps.config.routes["active"]
    turn = TurnInput(
        message="when does it renew?",
        signals=read_message("when does it renew?"),
        route_name="active",
        route=route,
        verified=True,
        context=None,
        context_text="Account: plan pro, renews 2026-11-10, lifetime value 119.00 USD\n- Order #1042 total 46.00 USD",
        passages=[],
        low_confidence=True,
        now=datetime(2026, 11, 2, 15, tzinfo=UTC),
    )
    ok = AgentAnswer(answer="It renews on November 10, 2026; order #1042 cost $46.00.", confidence=0.9)
    assert check_answer(ok, turn) == []
    bad = AgentAnswer(answer="It renews on Nov 12, 2026; order #1043 cost $46.50.", confidence=0.9)
    assert len(check_answer(bad, turn)) == 3
