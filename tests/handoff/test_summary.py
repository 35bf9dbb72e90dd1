"""Summaries of real conversations driven through the chat service: every reason code, the verified facts,
the LLM writer with its unsupported-fact filter, the deterministic builder when the LLM is down, privacy."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from handoff.facts import Evidence
from handoff.models import HandoffSummary
from handoff.quality import check_summary
from handoff.service import HandoffDeps, create_handoff, get_handoff
from handoff.summary import gather_inputs
from handoff.summary_text import render_markdown, render_text
from tests.agent.chat.helpers import MAYA, PERSONA_EMAILS, signed
from tests.agent.fake_openai import FakeOpenAI
from tests.clock import NOW
from tests.handoff.conftest import CLOSED
from tests.handoff.factories import escalated_conversation

# Maya's private facts (see tests/agent/chat/test_service.py): none may reach a visitor's handoff.
MAYA_PRIVATE = ["9400111899223344556631", "sub_BLmaya", "46.00", "94110", "4152010101", "Oolong", "119.00"]


def _escalate(deps: AgentDeps, identity: dict[str, str] | None, *messages: str) -> tuple[str, int]:
    conv = start_conversation(deps=deps, request=ConversationCreate(**(identity or {})))
    replies = [handle_message(deps=deps, conversation_id=conv.id, content=m) for m in messages]
    assert replies[-1].escalation.escalate, replies[-1]
    assert replies[-1].escalation.handoff_id is not None
    return conv.id, replies[-1].escalation.handoff_id


def _summarize(hdeps: HandoffDeps, request_id: int) -> tuple[HandoffSummary, list[tuple[str, str]], Evidence]:
    hid = create_handoff(hdeps, request_id=request_id)
    handoff = get_handoff(engine=hdeps.engine, handoff_id=hid)
    inputs = gather_inputs(
        now=NOW,
        engine=hdeps.engine,
        request_id=request_id,
        context_config=hdeps.context_config,
        transcript_base_url="x",
    )
    transcript = [(m.role, m.content) for m in inputs.messages]
    return handoff.summary, transcript, inputs.evidence


@pytest.mark.parametrize(
    ("identity", "messages", "code"),
    [
        (None, ["I want to talk to a person"], "customer_request"),
        (MAYA, ["WHY HAS MY ORDER NOT ARRIVED YET THIS IS UNACCEPTABLE"], "frustration"),
        (MAYA, ["how do I update my card details", "how do I update my card details?"], "loop"),
        (None, ["what is the airspeed velocity of an unladen swallow"], "no_answer"),
        (MAYA, ["my lawyer will be in touch about order #1042"], "sensitive_topic"),
        (None, ["Do you sell wholesale tea for cafes?", "I'm Dana Park from Juniper Cafe"], "sales_lead"),
    ],
    ids=["customer_request", "frustration", "loop", "no_answer", "sensitive_topic", "sales_lead"],
)
def test_a_summary_for_each_reason_code(
    chat: AgentDeps,
    make_handoff_deps: Callable[..., HandoffDeps],
    identity: str | None,
    messages: list[str],
    code: str,
) -> None:
    _, request_id = _escalate(chat, signed(identity) if identity else None, *messages)
    summary, transcript, evidence = _summarize(make_handoff_deps(), request_id)
    assert summary.reason_code == code and summary.written_by == "deterministic"
    report = check_summary(summary, expected_reason_code=code, transcript=transcript, evidence=evidence)
    assert report.passed, report.problems
    assert summary.promises, "the bot told the customer when a person answers: that is a promise"
    assert render_text(summary).splitlines()[0] == summary.headline
    assert render_markdown(summary).startswith(f"**{summary.headline}**")
    if code == "sales_lead":
        assert summary.collected.lead.get("company") == "Juniper Cafe" and summary.priority.rule == "sales_lead"
    if code == "sensitive_topic":
        assert summary.priority.level == "urgent" and summary.priority.rule == "legal_or_security"


def test_policy_reason_code_from_a_route_rule(
    make_deps: Callable[..., AgentDeps], make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    from tests.handoff.conftest import OPEN

    chat = make_deps({"routes": {"past_due": {"escalate_intents": ["billing"]}}}, now=lambda: OPEN)
    _, request_id = _escalate(chat, signed(PERSONA_EMAILS["past_due"]), "my card payment failed")
    summary, transcript, evidence = _summarize(make_handoff_deps(), request_id)
    assert summary.reason_code == "policy" and summary.intent == "billing"
    assert summary.priority.rule == "past_due" and summary.priority.level == "high"
    assert check_summary(summary, expected_reason_code="policy", transcript=transcript, evidence=evidence).passed


def test_refund_and_a_person_shows_verified_order_facts_request_and_reason(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    _, request_id = _escalate(chat, signed(MAYA), "I want a refund for order #1042 and I want a person")
    summary, _, _ = _summarize(make_handoff_deps(), request_id)
    assert summary.customer.verified and summary.customer.name == "Maya Chen"
    assert summary.intent == "returns_refunds" and summary.reason_code == "customer_request"
    order = next(f for f in summary.verified_facts if f.label == "Order #1042")
    assert "46.00" in order.value and "1Z999AA10123456784" in order.value and "UPS" in order.value
    assert order.source == "shopify" and order.as_of is not None
    assert summary.collected.order_numbers == ["#1042"]
    assert "refund" in summary.headline and "#1042" in summary.headline and "asked for a person" in summary.headline


def test_outside_business_hours_the_summary_records_what_the_customer_was_told(
    make_deps: Callable[..., AgentDeps], make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    chat = make_deps(now=lambda: CLOSED)
    _, request_id = _escalate(chat, signed(MAYA), "can I speak to a human please")
    summary, transcript, _ = _summarize(make_handoff_deps(), request_id)
    assert summary.business_hours.within is False
    assert "Monday 7 December at 09:00" in summary.business_hours.customer_told
    assert any("Monday 7 December" in p.text for p in summary.promises)
    assert check_summary(summary, transcript=transcript).checks["promises_listed"]


def _draft(**over: object) -> str:
    draft = {
        "intent": "returns_refunds",
        "problem": "Maya wants her money back for order #1042. She says she paid $46.00 on 27 October.",
        "verified_facts": [
            {"label": "Order #1042", "value": "UPS 1Z999AA10123456784, total 46.00 USD", "source": "shopify"},
            {"label": "Order #7777", "value": "refund of $312.50 issued on 2026-11-20", "source": "shopify"},
        ],
        "customer_claims": [{"claim": "says the parcel was left at the wrong door"}],
        "sentiment": "negative",
        "suggested_next_step": "Refund order #7777 today. Then confirm by email.",
        "promises": [{"text": "A person from our team will pick this up shortly, usually within a few minutes."}],
        "preferred_contact": "email",
        "photos_mentioned": False,
    }
    draft.update(over)
    return json.dumps(draft)


def test_llm_summary_invented_order_number_is_removed_and_flagged(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps], fake_openai: FakeOpenAI
) -> None:
    _, request_id = _escalate(chat, signed(MAYA), "I want a refund for order #1042 and I want a person")
    fake_openai.reply(_draft())
    model = build_chat_model(base_url=fake_openai.base_url, api_key=SecretStr("k"), model="fake-primary")
    summary, transcript, evidence = _summarize(make_handoff_deps(model=model), request_id)
    assert summary.written_by == "llm" and summary.model == "fake-primary"
    dump = summary.model_dump_json(exclude={"unsupported_removed"})
    assert "7777" not in dump and "312.50" not in dump  # invented by the "model": gone
    flagged = {(u.kind, u.value) for u in summary.unsupported_removed}
    assert ("order_number", "#7777") in flagged and ("amount", "312.50") in flagged
    assert "Order #1042" in [f.label for f in summary.verified_facts]  # the supported fact stays
    assert summary.suggested_next_step.startswith("Then confirm") or "#7777" not in summary.suggested_next_step
    assert summary.collected.preferred_contact == "email" and summary.sentiment == "negative"
    # The model's "negative" alone does not make a calm high-value customer urgent: the rules read our sentiment.
    assert summary.sentiment == "negative"
    if summary.sentiment_by_rules not in {"angry", "negative"} and summary.reason_code != "frustration":
        assert summary.priority.level != "urgent" and summary.priority.rule != "upset_high_value"
    assert ("verified_fact", "Order #7777") in flagged or ("order_number", "#7777") in flagged
    report = check_summary(summary, expected_reason_code="customer_request", transcript=transcript, evidence=evidence)
    assert report.passed, report.problems
    # The model was asked for the draft schema as structured output.
    system = fake_openai.chat_requests()[0].messages[0]["content"]
    assert (
        '"suggested_next_step"' in system
        and "1Z999AA10123456784" in fake_openai.chat_requests()[0].messages[1]["content"]
    )


def test_deterministic_builder_when_the_llm_is_down(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps], fake_openai: FakeOpenAI
) -> None:
    _, request_id = _escalate(chat, signed(MAYA), "I want a refund for order #1042 and I want a person")
    for _ in range(6):
        fake_openai.fail(500)
    model = build_chat_model(base_url=fake_openai.base_url, api_key=SecretStr("k"), model="fake-primary")
    summary, transcript, evidence = _summarize(make_handoff_deps(model=model), request_id)
    assert summary.written_by == "deterministic" and summary.llm_error and "LLMUnavailable" in summary.llm_error
    assert any(f.label == "Order #1042" for f in summary.verified_facts)
    assert check_summary(
        summary, expected_reason_code="customer_request", transcript=transcript, evidence=evidence
    ).passed


def test_visitor_handoff_carries_no_private_data_beyond_what_the_visitor_typed(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps], fake_openai: FakeOpenAI
) -> None:
    typed = "I'm maya.chen@example.com, where's my order #1042? I want to talk to a person"
    # Deterministic builder: no account data at all.
    _, first = _escalate(chat, None, typed)
    det = get_handoff(engine=chat.engine, handoff_id=create_handoff(make_handoff_deps(), request_id=first))
    # LLM writer: even a "model" that writes Maya's private order facts as verified cannot get them in.
    _, second = _escalate(chat, None, typed)
    fake_openai.reply(
        _draft(
            verified_facts=[{"label": "Order #1031", "value": "USPS 9400111899223344556631", "source": "shopify"}],
            problem="Visitor asks about order #1042.",
            suggested_next_step="Ask the visitor to sign in.",
        )
    )
    model = build_chat_model(base_url=fake_openai.base_url, api_key=SecretStr("k"), model="fake-primary")
    llm = get_handoff(engine=chat.engine, handoff_id=create_handoff(make_handoff_deps(model=model), request_id=second))
    for handoff in (det, llm):
        summary = handoff.summary
        assert not summary.customer.verified and summary.customer.customer_id is None and not summary.verified_facts
        blob = handoff.model_dump_json()
        for secret in MAYA_PRIVATE:
            assert secret not in blob, secret
        assert check_summary(summary, transcript=[("customer", typed)]).passed
    assert llm.summary.written_by == "llm" and llm.summary.unsupported_removed
    # The summary model got no customer context for a visitor: only what the visitor typed (and the bot said).
    assert "(none: unverified visitor)" in fake_openai.chat_requests()[0].messages[1]["content"]


def test_the_summary_request_of_a_very_long_conversation_stays_within_its_budget(
    make_handoff_deps: Callable[..., HandoffDeps], fake_openai: FakeOpenAI, demo_db: Engine
) -> None:
    # 3,000 messages of ~1.5 kB each: about 4.5 MB of transcript.
    filler = "my order still has not arrived and I keep asking about it " * 25
    messages = [("customer", "FIRST: my parcel for order #1042 never came")]
    messages += [("customer" if i % 2 else "assistant", f"{i}: {filler}") for i in range(1, 2999)]
    messages += [("customer", "LAST: please just get me a person")]
    _, request_id = escalated_conversation(demo_db, messages=tuple(messages))
    fake_openai.reply(_draft(verified_facts=[], suggested_next_step="Check the parcel with the carrier."))
    model = build_chat_model(base_url=fake_openai.base_url, api_key=SecretStr("k"), model="fake-primary")
    hdeps = make_handoff_deps(model=model)
    handoff = get_handoff(engine=demo_db, handoff_id=create_handoff(hdeps, request_id=request_id))
    assert handoff.summary.written_by == "llm"
    [sent] = fake_openai.chat_requests()  # one request, not one per retry
    size = len(json.dumps(sent.body).encode())
    prompt = sent.messages[1]["content"]
    assert size < 64_000, size  # the budget is 6,000 transcript tokens (~25 kB), not 4.5 MB
    # What the person taking over needs most is kept: how it started and how it ended.
    assert "FIRST: my parcel" in prompt and "LAST: please just get me a person" in prompt
    assert "message(s) left out" in prompt and "2998:" in prompt and " 5: " not in prompt
