"""A circuit breaker and a ChatModel wrapper that fails fast during an outage and tries a fallback model.

Breaker states: CLOSED (calls go through) → OPEN after `failure_threshold` consecutive failures (calls
fail at once with CircuitOpen) → HALF_OPEN once `reset_timeout_s` has passed (one probe call goes
through; success closes the breaker, failure opens it for another cool-down).

Only outage-like errors count as failures: LLMUnavailable (connection, 429, 5xx, auth) and LLMTimeout.
A malformed reply or a rejected request proves the endpoint is up, so it counts as a success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from agent.errors import CircuitOpen, LLMError, LLMTimeout, LLMUnavailable
from agent.llm.base import ChatMessage, ChatModel, LLMResult, StructuredChatModel, StructuredResult, T
from agent.llm.deadline import Deadline

R = TypeVar("R", LLMResult, StructuredResult[Any])

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    """Where a circuit breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A thread-safe consecutive-failure circuit breaker with an injectable clock."""

    def __init__(
        self,
        *,
        name: str = "llm",
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout_s > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started: float | None = None  # set while the half-open probe call is in flight

    def _current(self) -> BreakerState:
        # Called with the lock held; the open → half-open move happens lazily, on the first look after the cool-down.
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            self._state = BreakerState.HALF_OPEN
            self._probe_started = None
            log.info("circuit %s half-open: letting one probe call through", self.name)
        return self._state

    @property
    def state(self) -> BreakerState:
        """The current state (open turns half-open once the cool-down has passed)."""
        with self._lock:
            return self._current()

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        with self._lock:
            return self._failures

    def _probe_busy(self) -> bool:
        # A probe whose caller vanished without reporting must not block the breaker forever.
        return self._probe_started is not None and self._clock() - self._probe_started < self.reset_timeout_s

    def would_allow(self) -> bool:
        """Whether a call would be let through now (without reserving the half-open probe)."""
        with self._lock:
            state = self._current()
            return state is BreakerState.CLOSED or (state is BreakerState.HALF_OPEN and not self._probe_busy())

    def acquire(self) -> None:
        """Let a call through or raise CircuitOpen; in half-open, reserves the single probe slot."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._probe_busy():
                self._probe_started = self._clock()
                return
            if state is BreakerState.OPEN:
                retry_in = self.reset_timeout_s - (self._clock() - self._opened_at)
                raise CircuitOpen(f"circuit open after {self._failures} failures", model=self.name, retry_in_s=retry_in)
            raise CircuitOpen("circuit half-open: a probe call is in flight", model=self.name, retry_in_s=0.0)

    def record_success(self) -> None:
        """The call got an answer from the endpoint: close the breaker."""
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                log.info("circuit %s closed: the endpoint answered", self.name)
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probe_started = None

    def record_failure(self) -> None:
        """The call failed like an outage: count it, and open the breaker at the threshold or on a failed probe."""
        with self._lock:
            self._failures += 1
            state = self._current()
            if state is BreakerState.HALF_OPEN or (
                state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._probe_started = None
                log.warning(
                    "circuit %s open after %d consecutive failures; skipping calls for %.0fs",
                    self.name,
                    self._failures,
                    self.reset_timeout_s,
                )

    def release(self) -> None:
        """The call ended without a verdict (the caller went away): free the probe slot, count nothing."""
        with self._lock:
            self._probe_started = None


def _settle(breaker: CircuitBreaker, error: LLMError) -> None:
    if isinstance(error, LLMUnavailable | LLMTimeout):
        breaker.record_failure()
    else:
        breaker.record_success()  # the endpoint answered, just not usefully


class ResilientChatModel:
    """A ChatModel that guards a primary model (and an optional fallback) with circuit breakers.

    Order per call: the primary if its breaker allows, then the fallback if configured and allowed.
    When a fallback is available the primary gets only `primary_share` of the deadline, so a hung
    primary leaves the fallback time to answer. Raises CircuitOpen when every breaker is open, else
    the last model's LLMError; the caller then answers with its grounded responder.
    """

    def __init__(
        self,
        primary: ChatModel,
        *,
        fallback: ChatModel | None = None,
        breaker: CircuitBreaker | None = None,
        fallback_breaker: CircuitBreaker | None = None,
        primary_share: float = 0.6,
    ) -> None:
        if not 0 < primary_share <= 1:
            raise ValueError("primary_share must be in (0, 1]")
        self.name = primary.name
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker or CircuitBreaker(name=primary.name)
        self.fallback_breaker = fallback_breaker or (CircuitBreaker(name=fallback.name) if fallback else None)
        self.primary_share = primary_share

    def _plan(self, deadline: Deadline) -> Iterator[tuple[ChatModel, CircuitBreaker, float]]:
        fallback_ready = self.fallback_breaker is not None and self.fallback_breaker.would_allow()
        share = self.primary_share if fallback_ready else 1.0
        yield self.primary, self.breaker, deadline.remaining() * share
        if self.fallback is not None and self.fallback_breaker is not None:
            yield self.fallback, self.fallback_breaker, deadline.remaining()

    @staticmethod
    def _give_up(errors: list[LLMError]) -> LLMError:
        real = [e for e in errors if not isinstance(e, CircuitOpen)]
        return real[-1] if real else errors[0]

    def complete(self, messages: list[ChatMessage], *, deadline_s: float) -> LLMResult:
        """Answer with the first model that works; raise an LLMError if none does."""
        return self._first_that_works(
            deadline_s, lambda model, budget: model.complete(messages, deadline_s=budget), structured=False
        )

    def complete_structured(
        self, messages: list[ChatMessage], *, schema: type[T], deadline_s: float
    ) -> StructuredResult[T]:
        """Like `complete`, for any pydantic schema; models without `complete_structured` are skipped."""
        return self._first_that_works(
            deadline_s,
            lambda model, budget: model.complete_structured(messages, schema=schema, deadline_s=budget),
            structured=True,
        )

    def _first_that_works(self, deadline_s: float, call: Callable[[Any, float], R], *, structured: bool) -> R:
        """Try the primary then the fallback within one deadline, each behind its circuit breaker."""
        deadline = Deadline(deadline_s)
        errors: list[LLMError] = []
        for model, breaker, budget in self._plan(deadline):
            if structured and not isinstance(model, StructuredChatModel):
                errors.append(LLMUnavailable("this model cannot return other schemas", model=model.name))
                continue
            try:
                breaker.acquire()
            except CircuitOpen as exc:
                errors.append(exc)
                continue
            if budget <= 0:
                breaker.release()
                errors.append(LLMTimeout("no time left for this model", model=model.name))
                continue
            try:
                result = call(model, budget)
            except LLMError as exc:
                _settle(breaker, exc)
                log.info("LLM %s failed (%s)", model.name, type(exc).__name__)
                errors.append(exc)
                continue
            except BaseException:
                breaker.release()
                raise
            breaker.record_success()
            return result.model_copy(
                update={"fallback_used": model is not self.primary, "latency_ms": deadline.elapsed_ms()}
            )
        raise self._give_up(errors)

    def stream(self, messages: list[ChatMessage], *, deadline_s: float) -> Generator[str | LLMResult, None, None]:
        """Stream from the first model that works; once text was yielded, a failure is raised, not retried."""
        deadline = Deadline(deadline_s)
        errors: list[LLMError] = []
        for model, breaker, budget in self._plan(deadline):
            try:
                breaker.acquire()
            except CircuitOpen as exc:
                errors.append(exc)
                continue
            if budget <= 0:
                breaker.release()
                errors.append(LLMTimeout("no time left for this model", model=model.name))
                continue
            inner = model.stream(messages, deadline_s=budget)
            yielded = False
            final: LLMResult | None = None
            try:
                for item in inner:
                    if isinstance(item, LLMResult):
                        final = item
                    else:
                        yielded = True
                        yield item
            except LLMError as exc:
                _settle(breaker, exc)
                if yielded:
                    raise
                errors.append(exc)
                continue
            except BaseException:  # GeneratorExit when our caller stops reading: no verdict on the endpoint
                breaker.release()
                raise
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()
            if final is None:
                breaker.release()
                raise LLMUnavailable("the stream ended without a final result", model=model.name)
            breaker.record_success()
            yield final.model_copy(
                update={"fallback_used": model is not self.primary, "latency_ms": deadline.elapsed_ms()}
            )
            return
        raise self._give_up(errors)
