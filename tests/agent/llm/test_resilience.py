"""Circuit breaker and ResilientChatModel: fail fast during an outage, probe later, use the fallback model."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent.errors import CircuitOpen, LLMRequestError, LLMUnavailable, StreamInterrupted
from agent.llm import BreakerState, ChatMessage, CircuitBreaker, LLMResult, OpenAIChatModel, ResilientChatModel
from agent.llm.factory import build_chat_model
from tests.agent.fake_openai import FakeOpenAI, RecordedRequest, Scripted, answer_json

MESSAGES = [ChatMessage(role="system", content="Policy."), ChatMessage(role="user", content="Hi")]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def model(fake: FakeOpenAI, name: str = "fake-primary", **overrides: Any) -> OpenAIChatModel:
    options: dict[str, Any] = {
        "model": name,
        "base_url": fake.base_url,
        "timeout_s": 2.0,
        "max_attempts": 1,
        "backoff_initial_s": 0.01,
        "jitter_s": 0.01,
    }
    options.update(overrides)
    return OpenAIChatModel(**options)


def by_model(primary: Scripted, fallback: Scripted) -> Any:
    """A responder that answers per requested model name."""

    def respond(request: RecordedRequest) -> Scripted:
        return primary if request.body.get("model") == "fake-primary" else fallback

    return respond


# --- the breaker on its own ------------------------------------------------------------------------


def test_breaker_opens_after_n_consecutive_failures_and_half_opens_after_the_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)
    for _ in range(2):
        breaker.acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as caught:
        breaker.acquire()
    assert caught.value.retry_in_s == pytest.approx(30)

    clock.now += 29.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpen, match="probe"):
        breaker.acquire()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0


def test_a_success_resets_the_count_and_a_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED  # not consecutive
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 10
    assert breaker.would_allow()


def test_breaker_counts_correctly_under_concurrency() -> None:
    breaker = CircuitBreaker(failure_threshold=1000, reset_timeout_s=10)

    def fail_many() -> None:
        for _ in range(100):
            breaker.record_failure()

    threads = [threading.Thread(target=fail_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.consecutive_failures == 800
    assert breaker.state is BreakerState.CLOSED


# --- ResilientChatModel over HTTP ------------------------------------------------------------------


def test_outage_opens_the_circuit_then_calls_fail_fast_without_http(fake_openai: FakeOpenAI) -> None:
    clock = FakeClock()
    fake_openai.responder = lambda request: Scripted(status=503)
    resilient = ResilientChatModel(
        model(fake_openai), breaker=CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)
    )
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            resilient.complete(MESSAGES, deadline_s=5)
    assert len(fake_openai.chat_requests()) == 3
    assert resilient.breaker.state is BreakerState.OPEN

    with pytest.raises(CircuitOpen):
        resilient.complete(MESSAGES, deadline_s=5)
    assert len(fake_openai.chat_requests()) == 3  # refused at once: no request reached the server

    # After the cool-down one probe goes through; the endpoint has recovered, so the breaker closes.
    clock.now += 30
    fake_openai.responder = lambda request: Scripted(content=answer_json("back again"))
    assert resilient.complete(MESSAGES, deadline_s=5).answer.answer == "back again"
    assert resilient.breaker.state is BreakerState.CLOSED
    assert len(fake_openai.chat_requests()) == 4


def test_a_failed_probe_keeps_the_circuit_open(fake_openai: FakeOpenAI) -> None:
    clock = FakeClock()
    fake_openai.responder = lambda request: Scripted(status=500)
    resilient = ResilientChatModel(
        model(fake_openai), breaker=CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=clock)
    )
    with pytest.raises(LLMUnavailable):
        resilient.complete(MESSAGES, deadline_s=5)
    clock.now += 5
    with pytest.raises(LLMUnavailable):  # the probe: reaches the server, fails
        resilient.complete(MESSAGES, deadline_s=5)
    with pytest.raises(CircuitOpen):
        resilient.complete(MESSAGES, deadline_s=5)
    assert len(fake_openai.chat_requests()) == 2


def test_rejected_requests_do_not_trip_the_breaker(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Scripted(status=400)
    resilient = ResilientChatModel(model(fake_openai), breaker=CircuitBreaker(failure_threshold=2))
    for _ in range(3):
        with pytest.raises(LLMRequestError):
            resilient.complete(MESSAGES, deadline_s=5)
    assert resilient.breaker.state is BreakerState.CLOSED


def test_fallback_model_answers_when_the_primary_fails(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = by_model(Scripted(status=500), Scripted(content=answer_json("from the fallback")))
    resilient = ResilientChatModel(model(fake_openai), fallback=model(fake_openai, "fake-fallback"))
    result = resilient.complete(MESSAGES, deadline_s=5)
    assert result.answer.answer == "from the fallback"
    assert result.model == "fake-fallback" and result.fallback_used
    assert [r.body["model"] for r in fake_openai.chat_requests()] == ["fake-primary", "fake-fallback"]


def test_open_primary_circuit_goes_straight_to_the_fallback(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = by_model(Scripted(status=500), Scripted(content=answer_json("fallback")))
    resilient = ResilientChatModel(
        model(fake_openai),
        fallback=model(fake_openai, "fake-fallback"),
        breaker=CircuitBreaker(failure_threshold=1, reset_timeout_s=60),
    )
    resilient.complete(MESSAGES, deadline_s=5)
    resilient.complete(MESSAGES, deadline_s=5)
    models = [r.body["model"] for r in fake_openai.chat_requests()]
    assert models == ["fake-primary", "fake-fallback", "fake-fallback"]


def test_both_circuits_open_raises_circuit_open(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Scripted(status=502)
    resilient = ResilientChatModel(
        model(fake_openai),
        fallback=model(fake_openai, "fake-fallback"),
        breaker=CircuitBreaker(failure_threshold=1, reset_timeout_s=60),
        fallback_breaker=CircuitBreaker(failure_threshold=1, reset_timeout_s=60),
    )
    with pytest.raises(LLMUnavailable):
        resilient.complete(MESSAGES, deadline_s=5)
    with pytest.raises(CircuitOpen):
        resilient.complete(MESSAGES, deadline_s=5)
    assert len(fake_openai.chat_requests()) == 2


def test_a_hung_primary_leaves_the_fallback_time_to_answer(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = by_model(
        Scripted(content=answer_json("too late"), delay_s=30), Scripted(content=answer_json("fallback in time"))
    )
    resilient = ResilientChatModel(
        model(fake_openai, timeout_s=60), fallback=model(fake_openai, "fake-fallback"), primary_share=0.5
    )
    # The primary would answer after 30 s (its per-attempt timeout is 60 s): only the primary's share of the 1 s
    # deadline ending its attempt leaves the fallback the rest to answer in.
    result = resilient.complete(MESSAGES, deadline_s=1.0)
    assert result.answer.answer == "fallback in time"


def test_stream_falls_back_when_the_primary_fails_before_any_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = by_model(Scripted(status=503), Scripted(content=answer_json("streamed fallback")))
    resilient = ResilientChatModel(model(fake_openai), fallback=model(fake_openai, "fake-fallback"))
    items = list(resilient.stream(MESSAGES, deadline_s=5))
    final = items[-1]
    assert isinstance(final, LLMResult) and final.fallback_used
    assert "".join(str(i) for i in items[:-1]) == "streamed fallback" == final.answer.answer


def test_stream_broken_after_text_is_not_replayed_on_the_fallback(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = by_model(
        Scripted(content=answer_json("Primary says hello and then"), drop_after_chars=30),
        Scripted(content=answer_json("fallback")),
    )
    resilient = ResilientChatModel(model(fake_openai), fallback=model(fake_openai, "fake-fallback"))
    with pytest.raises(StreamInterrupted):
        list(resilient.stream(MESSAGES, deadline_s=5))
    assert [r.body["model"] for r in fake_openai.chat_requests()] == ["fake-primary"]
    assert resilient.breaker.consecutive_failures == 1


def test_a_reader_that_stops_early_leaves_no_verdict(fake_openai: FakeOpenAI) -> None:
    clock = FakeClock()
    fake_openai.responder = lambda request: Scripted(content=answer_json("a long answer text"), chunk_chars=2)
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5  # half-open: the next call is the probe
    resilient = ResilientChatModel(model(fake_openai), breaker=breaker)
    stream = resilient.stream(MESSAGES, deadline_s=5)
    assert isinstance(next(stream), str)
    stream.close()  # e.g. the chat client disconnected
    assert breaker.state is BreakerState.HALF_OPEN and breaker.would_allow()  # probe slot freed


def test_build_chat_model_from_settings_values(fake_openai: FakeOpenAI) -> None:
    assert build_chat_model(base_url=None, api_key=None, model="gpt-4o-mini") is None
    # Retry-After: 0 keeps the factory's default backoff (0.5 s, 1 s, ...) out of the test's run time.
    down = Scripted(status=503, headers={"Retry-After": "0"})
    fake_openai.responder = by_model(down, Scripted(content=answer_json("via factory")))
    built = build_chat_model(
        base_url=fake_openai.base_url, api_key=None, model="fake-primary", fallback_model="fake-fallback", timeout_s=2
    )
    assert built is not None
    result = built.complete(MESSAGES, deadline_s=10)
    assert result.answer.answer == "via factory" and result.fallback_used
    assert [r.body["model"] for r in fake_openai.chat_requests()] == ["fake-primary"] * 3 + ["fake-fallback"]
