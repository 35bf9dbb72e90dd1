"""OpenAIChatModel over real HTTP (LangChain ChatOpenAI → openai client → httpx) against the loopback fake server."""

from __future__ import annotations

import itertools
import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import openai
import pytest
from pydantic import SecretStr

from agent.errors import (
    LLMConfigError,
    LLMRequestError,
    LLMTimeout,
    LLMUnavailable,
    MalformedOutput,
    StreamInterrupted,
)
from agent.llm import ChatMessage, LLMResult, OpenAIChatModel
from agent.llm.openai_chat import retry_after_seconds
from agent.llm.output import OUTPUT_INSTRUCTIONS
from tests.agent.fake_openai import FakeOpenAI, Scripted, answer_json

MESSAGES = [
    ChatMessage(role="system", content="You are the support assistant of Acme."),
    ChatMessage(role="user", content="Where is my order?"),
]


def make_model(fake: FakeOpenAI, **overrides: Any) -> OpenAIChatModel:
    """A model with tiny backoffs so retry tests stay fast."""
    options: dict[str, Any] = {
        "model": "fake-primary",
        "base_url": fake.base_url,
        "timeout_s": 2.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "jitter_s": 0.01,
    }
    options.update(overrides)
    return OpenAIChatModel(**options)


def gaps(fake: FakeOpenAI) -> list[float]:
    """Seconds between consecutive requests the server received."""
    times = [r.at for r in fake.chat_requests()]
    return [b - a for a, b in itertools.pairwise(times)]


def test_complete_returns_the_validated_answer_with_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(
        answer_json("Your order shipped.", cited_passage_ids=["p1"], context_fields_used=["orders"], confidence=0.8),
        usage=(123, 45),
    )
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)

    assert result.answer.answer == "Your order shipped."
    assert result.answer.cited_passage_ids == ["p1"]
    assert result.answer.context_fields_used == ["orders"]
    assert result.answer.confidence == 0.8
    assert (result.prompt_tokens, result.completion_tokens) == (123, 45)
    assert result.model == "fake-primary" and result.attempts == 1 and not result.repaired
    assert result.latency_ms > 0


def test_request_asks_for_json_and_keeps_one_leading_system_message(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(answer_json("ok"))
    make_model(fake_openai).complete(MESSAGES, deadline_s=5)

    body = fake_openai.chat_requests()[0].body
    assert body["model"] == "fake-primary"
    assert body["response_format"] == {"type": "json_object"}
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user"]  # instructions merged, not a second system message
    assert body["messages"][0]["content"].startswith("You are the support assistant of Acme.")
    assert OUTPUT_INSTRUCTIONS in body["messages"][0]["content"]


def test_json_mode_can_be_turned_off_for_servers_without_it(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("Sure! ```json\n" + answer_json("fenced") + "\n```")
    result = make_model(fake_openai, json_mode=False).complete(MESSAGES, deadline_s=5)
    assert "response_format" not in fake_openai.chat_requests()[0].body
    assert result.answer.answer == "fenced"


def test_missing_usage_is_reported_as_unknown(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(answer_json("ok"), usage=None)
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert result.prompt_tokens is None and result.completion_tokens is None


def test_api_key_is_sent_as_bearer_token(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(answer_json("ok"))
    make_model(fake_openai, api_key=SecretStr("sk-test-123")).complete(MESSAGES, deadline_s=5)
    assert fake_openai.chat_requests()[0].headers["authorization"] == "Bearer sk-test-123"


def test_500s_then_success_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(500).fail(503).reply(answer_json("third time lucky"))
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert result.answer.answer == "third time lucky"
    assert result.attempts == 3
    assert len(fake_openai.chat_requests()) == 3


def test_persistent_500_gives_up_after_max_attempts(fake_openai: FakeOpenAI) -> None:
    for _ in range(5):
        fake_openai.fail(502)
    with pytest.raises(LLMUnavailable) as caught:
        make_model(fake_openai, max_attempts=3).complete(MESSAGES, deadline_s=5)
    assert caught.value.status == 502 and caught.value.attempts == 3
    # max_retries=0 on the client: the 3 requests are ours, not the openai client's hidden retries.
    assert len(fake_openai.chat_requests()) == 3


def test_429_retry_after_seconds_is_honoured(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(429, retry_after="0.4").reply(answer_json("after the wait"))
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert result.answer.answer == "after the wait"
    assert gaps(fake_openai)[0] >= 0.4


def test_retry_after_ms_is_honoured(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(429, headers={"retry-after-ms": "300"}).reply(answer_json("ok"))
    make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert gaps(fake_openai)[0] >= 0.3


def test_retry_after_past_the_deadline_gives_up_at_once(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(429, retry_after="30").reply(answer_json("too late"))
    with pytest.raises(LLMUnavailable) as caught:
        make_model(fake_openai).complete(MESSAGES, deadline_s=2)
    assert caught.value.status == 429
    assert len(fake_openai.chat_requests()) == 1  # gave up instead of sleeping 30 s into a retry


def test_retry_after_http_date(fake_openai: FakeOpenAI) -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0)

    def error_with(headers: dict[str, str]) -> openai.APIStatusError:
        fake_openai.fail(429, headers=headers)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        return caught.value

    in_five = format_datetime(now + timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(error_with({"Retry-After": in_five}), now=now) == 5.0
    past = format_datetime(now - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(error_with({"Retry-After": past}), now=now) == 0.0
    assert retry_after_seconds(error_with({"Retry-After": "2"}), now=now) == 2.0
    assert retry_after_seconds(error_with({"Retry-After": "soon"}), now=now) is None
    assert retry_after_seconds(error_with({}), now=now) is None


def test_slow_reply_beyond_the_deadline_is_ended_by_the_deadline(fake_openai: FakeOpenAI) -> None:
    # The upstream would answer after 30 s and each attempt may take 60 s: only the 0.6 s deadline can end this
    # call with a timeout (how long it took is a benchmark question, not asserted here).
    fake_openai.script(Scripted(content=answer_json("too slow"), delay_s=30), Scripted(content=answer_json("x")))
    with pytest.raises(LLMTimeout) as caught:
        make_model(fake_openai, timeout_s=60).complete(MESSAGES, deadline_s=0.6)
    assert caught.value.attempts == 1
    assert len(fake_openai.chat_requests()) == 1  # no retry was started past the deadline


def test_slow_first_attempt_is_retried_within_the_deadline(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Scripted(content=answer_json("slow"), delay_s=2), Scripted(content=answer_json("fast")))
    result = make_model(fake_openai, timeout_s=0.3).complete(MESSAGES, deadline_s=3)
    assert result.answer.answer == "fast"
    assert result.attempts == 2


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAIChatModel(
        model="m", base_url=f"http://127.0.0.1:{port}/v1", max_attempts=2, backoff_initial_s=0.01, jitter_s=0.01
    )
    with pytest.raises(LLMUnavailable) as caught:
        model.complete(MESSAGES, deadline_s=3)
    assert caught.value.attempts == 2


@pytest.mark.parametrize("status", [401, 404])
def test_auth_and_model_errors_are_not_retried(fake_openai: FakeOpenAI, status: int) -> None:
    fake_openai.fail(status).reply(answer_json("never"))
    with pytest.raises(LLMUnavailable, match="API key and the model name") as caught:
        make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert caught.value.status == status
    assert len(fake_openai.chat_requests()) == 1


def test_a_rejected_request_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(400, error_body={"error": {"message": "bad request", "type": "invalid_request_error"}})
    with pytest.raises(LLMRequestError) as caught:
        make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert caught.value.status == 400
    assert len(fake_openai.chat_requests()) == 1


def test_malformed_json_is_repaired_once(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply('{"answer": "Your order', usage=(10, 3)).reply(answer_json("Your order shipped."), usage=(20, 5))
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)

    assert result.answer.answer == "Your order shipped."
    assert result.repaired and result.attempts == 2
    assert (result.prompt_tokens, result.completion_tokens) == (30, 8)  # both calls are paid for
    repair = fake_openai.chat_requests()[1].messages
    assert [m["role"] for m in repair[-2:]] == ["assistant", "user"]
    assert repair[-2]["content"] == '{"answer": "Your order'
    assert "not valid JSON" in repair[-1]["content"]


def test_schema_violation_names_the_field_in_the_repair_request(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(json.dumps({"answer": "hi", "confidence": 7})).reply(answer_json("hi", confidence=0.7))
    result = make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert result.answer.confidence == 0.7
    assert "'confidence'" in fake_openai.chat_requests()[1].messages[-1]["content"]


def test_malformed_twice_raises_malformed_output(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply("I cannot answer in JSON, sorry.").reply("Still no JSON.")
    with pytest.raises(MalformedOutput) as caught:
        make_model(fake_openai).complete(MESSAGES, deadline_s=5)
    assert caught.value.raw == "Still no JSON."
    assert len(fake_openai.chat_requests()) == 2


def test_no_model_configured_is_a_config_error() -> None:
    with pytest.raises(LLMConfigError):
        OpenAIChatModel(model="gpt-4o-mini")


def test_list_models(fake_openai: FakeOpenAI) -> None:
    assert make_model(fake_openai).list_models() == ["fake-primary", "fake-fallback"]


# --- streaming ----------------------------------------------------------------------------------------


def run_stream(model: OpenAIChatModel, deadline_s: float = 5) -> tuple[list[str], LLMResult]:
    """Consume a stream; check the contract (text deltas, then exactly one LLMResult at the end)."""
    items = list(model.stream(MESSAGES, deadline_s=deadline_s))
    assert isinstance(items[-1], LLMResult)
    deltas = items[:-1]
    assert all(isinstance(d, str) for d in deltas)
    return [str(d) for d in deltas], items[-1]


def test_stream_yields_answer_text_then_the_result(fake_openai: FakeOpenAI) -> None:
    text = 'Your order #A-1001 "shipped"\nTrack it at https://t.example/XY — ünïcode 🚚 ok.'
    fake_openai.reply(answer_json(text, cited_passage_ids=["kb-3"]), usage=(50, 20), chunk_chars=3)
    deltas, result = run_stream(make_model(fake_openai))

    assert len(deltas) > 5  # really streamed, not one lump
    assert "".join(deltas) == text == result.answer.answer
    assert result.answer.cited_passage_ids == ["kb-3"]
    assert (result.prompt_tokens, result.completion_tokens) == (50, 20)
    body = fake_openai.chat_requests()[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_dropped_before_any_text_is_retried(fake_openai: FakeOpenAI) -> None:
    # The drop comes inside '{"answer": "' — nothing of the answer was shown yet.
    fake_openai.script(
        Scripted(content=answer_json("first try"), drop_after_chars=5),
        Scripted(content=answer_json("second try")),
    )
    deltas, result = run_stream(make_model(fake_openai))
    assert "".join(deltas) == "second try" == result.answer.answer
    assert result.attempts == 2


def test_stream_dropped_after_text_raises_for_the_caller_to_fall_back(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted(content=answer_json("Your order shipped yesterday."), drop_after_chars=25),
        Scripted(content=answer_json("must not be used")),
    )
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        for item in make_model(fake_openai).stream(MESSAGES, deadline_s=5):
            assert isinstance(item, str)
            received.append(item)
    # The server cut the reply after '{"answer": "Your order sh' (25 characters).
    assert "".join(received) == caught.value.partial_text == "Your order sh"
    assert len(fake_openai.chat_requests()) == 1  # not retried: the customer already saw text


def test_stream_500_then_success(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(500).reply(answer_json("streamed after a 500"))
    deltas, result = run_stream(make_model(fake_openai))
    assert "".join(deltas) == "streamed after a 500"
    assert result.attempts == 2


def test_stream_malformed_json_is_repaired(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply('{"answer": "Hello there", "confidence": "very"}').reply(
        answer_json("Hello there, how can I help?")
    )
    deltas, result = run_stream(make_model(fake_openai))
    assert result.repaired
    assert result.answer.answer == "Hello there, how can I help?"
    assert "".join(deltas) == result.answer.answer  # the repaired rest was streamed on


def test_stream_slower_than_the_deadline_times_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(answer_json("a long and slow answer"), chunk_chars=2, chunk_delay_s=0.15)
    # The whole stream takes ~6 s: only the 0.7 s deadline can end it with a timeout.
    with pytest.raises(LLMTimeout):
        list(make_model(fake_openai).stream(MESSAGES, deadline_s=0.7))
