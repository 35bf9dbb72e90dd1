"""Exceptions of the `agent` package.

AgentError                        root: anything raised on purpose by agent/
└── LLMError                      the language model gave no usable answer; callers fall back to the grounded responder
    ├── LLMConfigError            the LLM settings are unusable (e.g. neither a base URL nor an API key)
    ├── LLMUnavailable            the endpoint failed: connection refused, 5xx, 429 or auth error, after retries
    │   └── StreamInterrupted     a stream broke after text was already sent to the customer (not retried)
    ├── LLMTimeout                no answer within the turn's overall deadline
    ├── CircuitOpen               the circuit breaker is open: the model is skipped without a call
    ├── LLMRequestError           the endpoint rejected this request itself (400/413/422, e.g. prompt too long)
    └── MalformedOutput           the reply was not a valid AgentAnswer JSON, even after one repair request

├── AgentConfigError              the `agent:` section of contextdesk.yaml is invalid (names the key)
├── ConversationNotFound          no conversation with that id
├── WidgetTokenError              a widget conversation token is malformed, forged or expired (401)
└── ChatLimitError                a chat limit was hit (HTTP 4xx)
    ├── MessageTooLong            the message is over `agent.limits.max_message_chars` (413)
    ├── RateLimited               too many messages or conversations per minute (429, with retry_after_s)
    ├── MessageInProgress         a retry (same client_message_id) of a message whose turn is still running (409)
    └── StoreBusy                 the database stayed locked past the bounded wait (503, with retry_after_s)

(Other agent/ modules append their own subclasses of AgentError below; keep this tree up to date.)
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error raised on purpose by the agent package."""


class LLMError(AgentError):
    """The language model produced no usable answer; the caller should fall back."""

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0) -> None:
        super().__init__(f"{model}: {message}" if model else message)
        self.model = model
        self.attempts = attempts


class LLMConfigError(LLMError):
    """The LLM configuration cannot work (caught at construction, not per turn)."""


class LLMUnavailable(LLMError):
    """The endpoint could not be reached or kept failing (connection, 429, 5xx, auth)."""

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(message, model=model, attempts=attempts)
        self.status = status


class StreamInterrupted(LLMUnavailable):
    """A stream broke after part of the answer was already yielded; retrying would repeat text."""

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0, partial_text: str = "") -> None:
        super().__init__(message, model=model, attempts=attempts)
        self.partial_text = partial_text


class LLMTimeout(LLMError):
    """The overall deadline of the turn passed before a usable answer arrived."""


class CircuitOpen(LLMError):
    """The breaker is open after repeated failures; calls fail fast until the cool-down ends."""

    def __init__(self, message: str, *, model: str | None = None, retry_in_s: float = 0.0) -> None:
        super().__init__(message, model=model)
        self.retry_in_s = retry_in_s


class LLMRequestError(LLMError):
    """The endpoint rejected the request as invalid (not an outage: does not trip the breaker)."""

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(message, model=model, attempts=attempts)
        self.status = status


class MalformedOutput(LLMError):
    """The model's reply did not parse as an AgentAnswer, even after one repair request.

    `raw` holds the (truncated) reply for debugging; it may contain customer data, so never log it.
    """

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0, raw: str = "") -> None:
        super().__init__(message, model=model, attempts=attempts)
        self.raw = raw


class AgentConfigError(AgentError):
    """The `agent:` configuration is invalid."""


class ConversationNotFound(AgentError):
    """No conversation with that id."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no conversation {conversation_id!r}")
        self.conversation_id = conversation_id


class ChatLimitError(AgentError):
    """A chat limit was hit; `status` is the HTTP status the API answers with."""

    status = 400


class MessageTooLong(ChatLimitError):
    """The message exceeds the configured size."""

    status = 413

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message is {length} characters; the limit is {limit}")
        self.length = length
        self.limit = limit


class RateLimited(ChatLimitError):
    """Too many requests per minute for a conversation or a client address."""

    status = 429

    def __init__(self, what: str, limit: int, retry_after_s: float) -> None:
        super().__init__(f"too many {what}: the limit is {limit} per minute; retry in {retry_after_s:.0f} s")
        self.what = what
        self.limit = limit
        self.retry_after_s = retry_after_s


class MessageInProgress(ChatLimitError):
    """A retry of a stored message (same client message id) whose turn has not finished: retry in a moment."""

    status = 409

    def __init__(self, message_id: int) -> None:
        super().__init__(
            f"message {message_id} with this client_message_id is stored and its reply is not ready yet; "
            "retry with the same id shortly (the reply is also on the conversation's events)"
        )
        self.message_id = message_id
        self.retry_after_s = 1.0


class WidgetTokenError(AgentError):
    """A widget conversation token (`cdw1.…`) is malformed, forged or expired."""


class StoreBusy(ChatLimitError):
    """The database stayed locked by another writer past the bounded wait: nothing was taken, retry shortly."""

    status = 503

    def __init__(self, waited_s: float, *, what: str = "the database is busy (locked by another writer)") -> None:
        super().__init__(f"{what}; waited {waited_s:.1f} s, retry shortly")
        self.retry_after_s = 1.0
