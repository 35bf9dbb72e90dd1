"""Internal text never reaches a customer: route offers say only their customer-facing wording, staff notes and
pages marked internal stay out of replies (grounded and LLM)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from agent.grounding_check import check_answer
from agent.intents import read_message
from agent.llm.base import AgentAnswer
from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate
from agent.prompt import assemble_prompt
from agent.service import AgentDeps, handle_message, start_conversation
from agent.turn import Passage, TurnInput
from tests.agent.chat.helpers import PERSONA_EMAILS, signed
from tests.agent.fake_openai import FakeOpenAI, answer_json
from tests.clock import NOW

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("route", "question"),
    [("trial", "how do I cancel my plan?"), ("former", "can I renew my plan?")],
)
def test_grounded_replies_offer_only_the_customer_facing_wording(
    make_deps: Callable[..., AgentDeps], route: str, question: str
) -> None:
    deps = make_deps(now=lambda: OPEN)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(PERSONA_EMAILS[route])))
    reply = handle_message(deps=deps, conversation_id=conv.id, content=question)
    text = reply.reply or ""
    offers = deps.config.routes[route].offers
    assert any(o.note for o in offers)
    for offer in offers:
        if offer.note:
            assert offer.note not in text and "never promise" not in text and "win-back" not in text
    if "I can also help with" in text:
        assert any(o.say in text for o in offers)


def test_an_llm_reply_quoting_a_staff_note_is_not_sent(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    model = build_chat_model(base_url=fake_openai.base_url, api_key=None, model="fake-primary", timeout_s=20)
    deps = make_deps(model=model, llm_deadline_s=20, now=lambda: OPEN)
    note = next(o.note for o in deps.config.routes["trial"].offers if o.note)
    fake_openai.reply(answer_json(f"About extending your trial: {note}."))
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(PERSONA_EMAILS["trial"])))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="can I extend my trial?")
    assert reply.responder == "grounded" and note not in (reply.reply or "")
    sent = fake_openai.chat_requests()[0].messages[0]["content"]
    assert "never say or quote them" in sent


def test_pages_marked_internal_are_neither_prompted_nor_citable(make_deps: Callable[..., AgentDeps]) -> None:
    deps = make_deps()
    staff = Passage(
        "P1", "c1", "Refund playbook", "Approvals", "u", "Agents may approve refunds up to $50.", 1.0, "internal"
    )
    public = Passage("P2", "c2", "Returns", "Policy", "u", "Returns are accepted within 30 days.", 0.9, "everyone")
    turn = TurnInput(
        message="can I get a refund?",
        signals=read_message("can I get a refund?"),
        route_name="visitor",
        route=deps.config.routes["visitor"],
        verified=False,
        context=None,
        context_text="",
        passages=[staff, public],
        low_confidence=False,
        now=NOW,
    )
    prompt = assemble_prompt(turn, budget=deps.config.prompt, explain={})
    assert "Agents may approve" not in prompt.messages[0].content and "within 30 days" in prompt.messages[0].content
    issues = check_answer(
        AgentAnswer(answer="Returns are accepted within 30 days.", cited_passage_ids=["P1"], confidence=0.9), turn
    )
    assert any("staff only" in i for i in issues)
