"""Parsing the model's JSON reply and decoding the answer text out of a JSON stream."""

from __future__ import annotations

import json

import pytest

from agent.errors import MalformedOutput
from agent.llm.base import ChatMessage
from agent.llm.output import OUTPUT_INSTRUCTIONS, AnswerTextExtractor, parse_answer, with_output_instructions

TRICKY = 'Quotes "x", backslash \\ path C:\\tmp, tab\there, newline\nend, unicode é 中文 🚚, escape \\u0041 literal'


def test_parse_plain_fenced_and_wrapped_replies() -> None:
    body = json.dumps({"answer": "Hi", "confidence": 0.5})
    assert parse_answer(body).answer == "Hi"
    assert parse_answer(f"```json\n{body}\n```").answer == "Hi"
    assert parse_answer(f"Here you go: {body} Hope that helps").answer == "Hi"


def test_null_lists_mean_empty_and_defaults_apply() -> None:
    answer = parse_answer('{"answer": "Hi", "confidence": 1, "cited_passage_ids": null, "context_fields_used": null}')
    assert answer.cited_passage_ids == [] and answer.context_fields_used == []
    assert answer.escalate is False and answer.escalation_reason is None


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("no json at all", "no JSON object"),
        ('{"answer": "cut', "not valid JSON"),
        ("[1, 2]", "no JSON object"),
        ('{"confidence": 0.5}', "'answer'"),
        ('{"answer": "x", "confidence": 1.5}', "'confidence'"),
        ('{"answer": "x"}', "'confidence'"),
    ],
)
def test_malformed_replies_name_the_problem(reply: str, problem: str) -> None:
    with pytest.raises(MalformedOutput, match=problem):
        parse_answer(reply)


def test_error_message_does_not_quote_the_reply() -> None:
    # The reply may hold customer data; the message goes to logs, only `.raw` keeps it.
    with pytest.raises(MalformedOutput) as caught:
        parse_answer('{"answer": "jane@example.com", "confidence": "jane@example.com"}')
    assert "jane@example.com" not in str(caught.value)
    assert "jane@example.com" in caught.value.raw


def test_output_instructions_merge_into_the_first_system_message() -> None:
    merged = with_output_instructions(
        [ChatMessage(role="system", content="Policy."), ChatMessage(role="user", content="Q")]
    )
    assert [m.role for m in merged] == ["system", "user"]
    assert merged[0].content == f"Policy.\n\n{OUTPUT_INSTRUCTIONS}"
    added = with_output_instructions([ChatMessage(role="user", content="Q")])
    assert [m.role for m in added] == ["system", "user"]


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7])
def test_extractor_decodes_the_answer_however_the_stream_is_split(step: int) -> None:
    raw = json.dumps({"answer": TRICKY, "confidence": 0.9}, ensure_ascii=True)  # \uXXXX and surrogate pairs
    extractor = AnswerTextExtractor()
    pieces = [extractor.feed(raw[i : i + step]) for i in range(0, len(raw), step)]
    assert "".join(pieces) == TRICKY == parse_answer(raw).answer
    assert extractor.done


def test_extractor_waits_for_the_answer_key_even_when_it_is_not_first() -> None:
    raw = json.dumps({"confidence": 0.9, "cited_passage_ids": ["answer"], "answer": "late key"}, ensure_ascii=False)
    extractor = AnswerTextExtractor()
    assert "".join(extractor.feed(c) for c in raw) == "late key"
