"""The narrow interface between the agent and any language model: messages in, a validated AgentAnswer out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    """One chat message as sent to the model."""

    role: Literal["system", "user", "assistant"]
    content: str


class AgentAnswer(BaseModel):
    """The structured output the LLM must return (as a JSON object) for every turn."""

    answer: str = Field(description="The reply to the customer, in plain text.")
    cited_passage_ids: list[str] = Field(default_factory=list, description="Ids of the passages the answer relies on.")
    context_fields_used: list[str] = Field(
        default_factory=list, description="Names of the customer-context fields the answer relies on."
    )
    confidence: float = Field(ge=0, le=1, description="How sure the model is that the answer is right and grounded.")
    escalate: bool = Field(False, description="True when a human should take over.")
    escalation_reason: str | None = Field(
        None, description="A reason code when escalate is true, e.g. customer_request."
    )


class LLMResult(BaseModel):
    """A validated answer plus what it cost: which model answered, tokens, latency and HTTP attempts."""

    answer: AgentAnswer
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    attempts: int
    repaired: bool = False  # the first reply was malformed and a repair request fixed it
    fallback_used: bool = False  # the fallback model answered because the primary failed or its breaker was open


@runtime_checkable
class ChatModel(Protocol):
    """A chat model that answers with an AgentAnswer; every failure is raised as an LLMError subclass."""

    name: str

    def complete(self, messages: list[ChatMessage], *, deadline_s: float) -> LLMResult:
        """Answer within `deadline_s` seconds overall (retries included)."""
        ...

    def stream(self, messages: list[ChatMessage], *, deadline_s: float) -> Iterator[str | LLMResult]:
        """Yield the answer text in deltas as it arrives, then exactly one final LLMResult."""
        ...


T = TypeVar("T", bound=BaseModel)


class StructuredResult(BaseModel, Generic[T]):
    """A validated object of any pydantic schema (not AgentAnswer) plus what it cost."""

    output: T
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    attempts: int
    repaired: bool = False
    fallback_used: bool = False


@runtime_checkable
class StructuredChatModel(Protocol):
    """A chat model that can also answer with JSON validated against any pydantic schema (e.g. a summary)."""

    name: str

    def complete_structured(
        self, messages: list[ChatMessage], *, schema: type[T], deadline_s: float
    ) -> StructuredResult[T]:
        """Return one object of `schema` within `deadline_s`; raise LLMError subclasses on failure."""
        ...
