"""The narrow interface between the agent and any language model: messages in, a validated AgentAnswer out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol, runtime_checkable

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
