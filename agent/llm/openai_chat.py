"""A ChatModel on LangChain's ChatOpenAI, for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp).

Retrying is ours (tenacity), not the openai client's (`max_retries=0`): timeouts, connection errors,
408/409/429 and 5xx are retried with exponential backoff and jitter, a `Retry-After` header is
honoured, and nothing waits or runs past the caller's overall deadline.
"""

from __future__ import annotations

import contextlib
import email.utils
import importlib
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import openai
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_any, wait_exponential_jitter
from tenacity.stop import stop_base

from agent.errors import (
    LLMConfigError,
    LLMError,
    LLMRequestError,
    LLMTimeout,
    LLMUnavailable,
    MalformedOutput,
    StreamInterrupted,
)
from agent.llm.base import AgentAnswer, ChatMessage, LLMResult, StructuredResult, T
from agent.llm.deadline import Deadline
from agent.llm.output import (
    AnswerTextExtractor,
    parse_answer,
    parse_structured,
    repair_messages,
    with_output_instructions,
    with_schema_instructions,
)
from agent.llm.tokens import count_chat_tokens, encoding, token_ids

log = logging.getLogger(__name__)
P = TypeVar("P")  # what a repair parses into

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers (llama.cpp, vLLM, Ollama) ignore the key, but the openai client insists on one.
PLACEHOLDER_API_KEY = "not-needed"
RETRYABLE_STATUS = frozenset({408, 409, 429})
MIN_ATTEMPT_S = 0.05  # an attempt with less time than this left cannot succeed; fail with LLMTimeout instead


def _client_errors(name: str) -> tuple[type[BaseException], ...]:
    # openai>=3 runs on httpx2 (an API-identical fork), older versions on httpx: errors from a stream being
    # read can surface raw from either, so both libraries' classes are recognised.
    errors: list[type[BaseException]] = [getattr(httpx, name)]
    with contextlib.suppress(ImportError, AttributeError):
        errors.append(getattr(importlib.import_module("httpx2"), name))
    return tuple(errors)


TRANSPORT_ERRORS = _client_errors("TransportError")
TIMEOUT_ERRORS = _client_errors("TimeoutException")
_ROLES = {"human": "user", "ai": "assistant"}  # LangChain message types → OpenAI roles


class OfflineTokenChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose token counting uses the bundled offline encoding.

    ChatOpenAI counts through `tiktoken.encoding_for_model` / `get_encoding("cl100k_base")`, which
    downloads its BPE file on first use; here that fails (offline) or would be a hidden network call.
    """

    def _get_encoding_model(self) -> tuple[str, Any]:
        return self.model_name, encoding()

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids from the offline cl100k encoding."""
        return token_ids(text)

    def get_num_tokens_from_messages(
        self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None, **kwargs: Any
    ) -> int:
        """Prompt tokens of `messages` (chat-format overhead included), for any model name."""
        return count_chat_tokens((_ROLES.get(m.type, m.type), m.text) for m in messages)


def retry_after_seconds(exc: BaseException | None, *, now: datetime | None = None) -> float | None:
    """The wait an HTTP error asks for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date.

    An HTTP date is measured against `now`, or else against the response's own `Date` header: the server's
    clock is the one its date was written by (RFC 9110), and this module never reads the wall clock. Without
    either, the hint is ignored (the usual backoff applies).
    """
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now is None:
        try:
            now = email.utils.parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError):
            return None
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: timeouts, dropped connections, 408/409/429 and 5xx."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    # APITimeoutError is an APIConnectionError; httpx errors can surface raw from a stream being read.
    return isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS))


def to_llm_error(exc: BaseException, *, model: str, attempts: int) -> LLMError:
    """Map a client exception to the agent's LLMError tree (the message never quotes the prompt)."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        return LLMTimeout(f"timed out (attempt {attempts})", model=model, attempts=attempts)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            return LLMUnavailable(
                f"HTTP {status} after {attempts} attempt(s)", model=model, attempts=attempts, status=status
            )
        if status in (401, 403, 404):
            # Credentials or model name are wrong: every call will fail the same way, so it counts as an outage.
            return LLMUnavailable(
                f"HTTP {status}: check the API key and the model name", model=model, attempts=attempts, status=status
            )
        return LLMRequestError(
            f"HTTP {status}: the request was rejected", model=model, attempts=attempts, status=status
        )
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return LLMUnavailable(f"connection failed after {attempts} attempt(s)", model=model, attempts=attempts)
    # Anything else (an odd server reply the client cannot parse, ...) still must not crash the chat turn.
    return LLMUnavailable(f"unexpected {type(exc).__name__}", model=model, attempts=attempts)


def _to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    converted: list[BaseMessage] = []
    for message in messages:
        if message.role == "system":
            converted.append(SystemMessage(content=message.content))
        elif message.role == "user":
            converted.append(HumanMessage(content=message.content))
        else:
            converted.append(AIMessage(content=message.content))
    return converted


def _usage(message: AIMessage | AIMessageChunk) -> tuple[int | None, int | None]:
    usage = message.usage_metadata
    if not usage:
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


class _OpenedStream:
    """A stream being read: the raw reply so far, the answer text decoded so far, and the usage."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self.chunks = chunks
        self.extractor = AnswerTextExtractor()
        self.raw: list[str] = []
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finished = False
        self.first_text = ""

    def consume(self, chunk: AIMessageChunk) -> str:
        """Record one chunk; return the answer text it completes."""
        prompt, completion = _usage(chunk)
        if prompt is not None:
            self.prompt_tokens = prompt
        if completion is not None:
            self.completion_tokens = completion
        text = chunk.text
        if not text:
            return ""
        self.raw.append(text)
        return self.extractor.feed(text)

    def close(self) -> None:
        """Release the HTTP response."""
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class OpenAIChatModel:
    """ChatModel for an OpenAI-compatible `/v1/chat/completions` endpoint, answering with AgentAnswer JSON."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: SecretStr | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        jitter_s: float = 0.5,
        json_mode: bool = True,
        stream_usage: bool = True,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if base_url is None and api_key is None:
            raise LLMConfigError("set an API key for OpenAI, or a base URL for a self-hosted server", model=model)
        if timeout_s <= 0 or max_attempts < 1:
            raise LLMConfigError(f"timeout_s must be > 0 and max_attempts >= 1 (got {timeout_s}, {max_attempts})")
        self.name = model
        self.base_url = base_url or OPENAI_BASE_URL
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self._backoff = wait_exponential_jitter(multiplier=backoff_initial_s, max=backoff_max_s, jitter=jitter_s)
        # JSON mode is sent as a plain body field: LangChain's own `response_format` handling switches to
        # the `.parse()` / beta streaming helpers, which are OpenAI-specific; the field itself is
        # understood by OpenAI, vLLM, Ollama and llama.cpp server alike.
        extra_body = {"response_format": {"type": "json_object"}} if json_mode else None
        self._llm = OfflineTokenChatOpenAI(
            model=model,
            base_url=self.base_url,  # explicit, so OPENAI_BASE_URL in the environment cannot redirect us
            api_key=api_key or SecretStr(PLACEHOLDER_API_KEY),
            timeout=timeout_s,
            max_retries=0,  # tenacity below owns retrying; the client's own retries would ignore our deadline
            stream_usage=stream_usage,
            temperature=temperature,
            max_tokens=max_tokens,
            extra_body=extra_body,
            custom_get_token_ids=token_ids,
        )

    @property
    def chat_openai(self) -> ChatOpenAI:
        """The underlying LangChain model (e.g. for LangChain tooling that wants a BaseChatModel)."""
        return self._llm

    # --- retrying ---------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(exc)
        return hinted if hinted is not None else self._backoff(state)

    def _retrying(self, deadline: Deadline) -> Retrying:
        class past_deadline(stop_base):
            # Give up now rather than sleep into (or past) the deadline: the caller needs time to fall back.
            def __call__(self, state: RetryCallState) -> bool:
                return state.upcoming_sleep + MIN_ATTEMPT_S >= deadline.remaining()

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            status = getattr(exc, "status_code", None)
            log.info(
                "LLM %s attempt %d failed (%s%s); retrying in %.2fs",
                self.name,
                state.attempt_number,
                type(exc).__name__,
                f", HTTP {status}" if status else "",
                state.upcoming_sleep,
            )

        return Retrying(
            retry=retry_if_exception(is_retryable),
            wait=self._wait,
            stop=stop_any(stop_after_attempt(self.max_attempts), past_deadline()),
            before_sleep=log_retry,
            reraise=True,
        )

    def _attempt_timeout(self, deadline: Deadline, attempts: int) -> float:
        remaining = deadline.remaining()
        if remaining < MIN_ATTEMPT_S:
            raise LLMTimeout("the deadline passed before an answer arrived", model=self.name, attempts=attempts)
        return min(self.timeout_s, remaining)

    def _invoke(self, prompt: list[BaseMessage], deadline: Deadline) -> tuple[AIMessage, int]:
        attempts = 0
        try:
            for attempt in self._retrying(deadline):
                with attempt:
                    timeout = self._attempt_timeout(deadline, attempts)
                    attempts += 1
                    reply = self._llm.invoke(prompt, timeout=timeout)
                    return reply, attempts
        except Exception as exc:
            raise to_llm_error(exc, model=self.name, attempts=attempts) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    # --- ChatModel --------------------------------------------------------------------------------
    def complete(self, messages: list[ChatMessage], *, deadline_s: float) -> LLMResult:
        """Ask for an AgentAnswer; repair a malformed reply once; raise LLMError subclasses on failure."""
        deadline = Deadline(deadline_s)
        prompt_messages = with_output_instructions(messages)
        reply, attempts = self._invoke(_to_langchain(prompt_messages), deadline)
        prompt_tokens, completion_tokens = _usage(reply)
        repaired = False
        try:
            answer = parse_answer(reply.text, model=self.name, attempts=attempts)
        except MalformedOutput as bad:
            answer, more, usage = self._repair(prompt_messages, reply.text, bad, deadline, attempts, self._read_answer)
            attempts += more
            prompt_tokens, completion_tokens = _add(prompt_tokens, usage[0]), _add(completion_tokens, usage[1])
            repaired = True
        return LLMResult(
            answer=answer,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=deadline.elapsed_ms(),
            attempts=attempts,
            repaired=repaired,
        )

    def _repair(
        self,
        messages: list[ChatMessage],
        bad_reply: str,
        bad: MalformedOutput,
        deadline: Deadline,
        attempts: int,
        parse: Callable[[str, int], P],
    ) -> tuple[P, int, tuple[int | None, int | None]]:
        """Ask once for valid JSON after a malformed reply; `parse(text, attempts)` reads the new reply."""
        problem = str(bad).removeprefix(f"{self.name}: ")
        log.info("LLM %s reply malformed (%s); asking once for a repair", self.name, problem)
        reply, more = self._invoke(_to_langchain(repair_messages(messages, bad_reply, problem)), deadline)
        return parse(reply.text, attempts + more), more, _usage(reply)

    def _read_answer(self, text: str, attempts: int) -> AgentAnswer:
        return parse_answer(text, model=self.name, attempts=attempts)

    def complete_structured(
        self, messages: list[ChatMessage], *, schema: type[T], deadline_s: float
    ) -> StructuredResult[T]:
        """Ask for one JSON object of `schema` (same retries, deadline and one repair as `complete`)."""
        deadline = Deadline(deadline_s)
        prompt_messages = with_schema_instructions(messages, schema)
        reply, attempts = self._invoke(_to_langchain(prompt_messages), deadline)
        prompt_tokens, completion_tokens = _usage(reply)
        repaired = False
        try:
            output = parse_structured(reply.text, schema, model=self.name, attempts=attempts)
        except MalformedOutput as bad:
            output, more, usage = self._repair(
                prompt_messages,
                reply.text,
                bad,
                deadline,
                attempts,
                parse=lambda text, n: parse_structured(text, schema, model=self.name, attempts=n),
            )
            attempts += more
            prompt_tokens, completion_tokens = _add(prompt_tokens, usage[0]), _add(completion_tokens, usage[1])
            repaired = True
        return StructuredResult[T](
            output=output,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=deadline.elapsed_ms(),
            attempts=attempts,
            repaired=repaired,
        )

    def _open_stream(
        self, prompt: list[BaseMessage], deadline: Deadline, timeout: float, attempts: int
    ) -> _OpenedStream:
        """Start a stream and read it until the first answer text (or its end); errors here are retryable."""
        opened = _OpenedStream(iter(self._llm.stream(prompt, timeout=timeout)))
        try:
            for chunk in opened.chunks:
                if deadline.expired():
                    raise LLMTimeout("the deadline passed while streaming", model=self.name, attempts=attempts)
                text = opened.consume(chunk)
                if text:
                    opened.first_text = text
                    return opened
            opened.finished = True
            return opened
        except BaseException:
            opened.close()
            raise

    def stream(self, messages: list[ChatMessage], *, deadline_s: float) -> Generator[str | LLMResult, None, None]:
        """Yield answer text deltas, then one LLMResult.

        A stream that drops before any text was yielded is retried; after that it raises
        StreamInterrupted (retrying would repeat text the customer already saw). If the final JSON is
        malformed it is repaired with one non-streamed request; then `LLMResult.answer.answer` is the
        authoritative text and may differ from the deltas (`LLMResult.repaired` is set).
        """
        deadline = Deadline(deadline_s)
        prompt_messages = with_output_instructions(messages)
        prompt = _to_langchain(prompt_messages)
        attempts = 0
        opened: _OpenedStream | None = None
        try:
            for attempt in self._retrying(deadline):
                with attempt:
                    timeout = self._attempt_timeout(deadline, attempts)
                    attempts += 1
                    opened = self._open_stream(prompt, deadline, timeout, attempts)
        except Exception as exc:
            raise to_llm_error(exc, model=self.name, attempts=attempts) from exc
        assert opened is not None
        try:
            if opened.first_text:
                yield opened.first_text
            if not opened.finished:
                try:
                    for chunk in opened.chunks:
                        if deadline.expired():
                            raise LLMTimeout("the deadline passed while streaming", model=self.name, attempts=attempts)
                        text = opened.consume(chunk)
                        if text:
                            yield text
                except LLMError:
                    raise
                except Exception as exc:
                    raise StreamInterrupted(
                        f"stream broke after text was sent ({type(exc).__name__})",
                        model=self.name,
                        attempts=attempts,
                        partial_text=opened.extractor.text,
                    ) from exc
        finally:
            opened.close()
        raw = "".join(opened.raw)
        prompt_tokens, completion_tokens = opened.prompt_tokens, opened.completion_tokens
        repaired = False
        try:
            answer = parse_answer(raw, model=self.name, attempts=attempts)
        except MalformedOutput as bad:
            answer, more, usage = self._repair(prompt_messages, raw, bad, deadline, attempts, self._read_answer)
            attempts += more
            prompt_tokens, completion_tokens = _add(prompt_tokens, usage[0]), _add(completion_tokens, usage[1])
            repaired = True
            streamed = opened.extractor.text
            if answer.answer.startswith(streamed) and len(answer.answer) > len(streamed):
                yield answer.answer[len(streamed) :]
        yield LLMResult(
            answer=answer,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=deadline.elapsed_ms(),
            attempts=attempts,
            repaired=repaired,
        )

    def list_models(self, *, timeout_s: float = 5.0) -> list[str]:
        """Model ids the endpoint serves (GET /v1/models), e.g. for a `doctor` check."""
        client = self._llm.root_client.with_options(timeout=timeout_s, max_retries=0)
        try:
            return [m.id for m in client.models.list()]
        except Exception as exc:
            raise to_llm_error(exc, model=self.name, attempts=1) from exc
