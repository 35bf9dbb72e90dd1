"""The typed trace of one turn: what shaped the reply (identity, context budget and privacy, retrieval,
degradations), stored with the prompt on the turn row (`agent_turns.prompt`, read by `contextdesk chat explain`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class TurnTrace(BaseModel):
    """Filled by the turn's steps, each writing only its own fields; stored flat next to the prompt."""

    identity: str
    topic: str | None = None
    # build turn input: the customer context as the route may show it
    context_tokens: int | None = None
    context_max_tokens: int | None = None
    context_dropped: list[str] | None = None
    privacy_withheld: list[str] | None = None
    sections_hidden_by_route: list[str] | None = None
    context_injections_removed: int | None = None
    # build turn input: retrieval
    retrieval_viewer: str = "visitor"
    passage_injections_removed: int = 0
    message_looks_like_injection: bool = False
    query_language: str | None = None
    language_fallback: bool = Field(
        False, description="The passages are in another language than the question (no page in its language)."
    )
    knowledge_unavailable: str | None = Field(
        None, description="Why the help center could not be searched (the reply then rests on the context only)."
    )
    # respond
    streamed: bool = False
    sentences_sent: int = 0
    sentence_replaced: str | None = Field(None, description="The grounding issue that stopped the model's stream.")
    stopped: bool = False
    language_notice: Literal["grounded", "llm", "added"] | None = Field(
        None,
        description="Who told the customer the help-center passages are in another language: the grounded "
        "responder's notice, the model itself, or the notice added because the model's reply did not say so.",
    )
    # store
    step_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds per step before store (monotonic clock): receive (arrival until the turn runs), "
        "lease, build_turn_input, decide, respond; the turn's latency_ms less their sum is the store step.",
    )
    state_changed_to: str | None = Field(None, description="A person took over while the turn ran: reply dropped.")

    def record(self, prompt: dict[str, Any] | None = None) -> dict[str, Any]:
        """The stored form: the trace's set fields, then the prompt's messages and its own explain keys."""
        out = self.model_dump(exclude_none=True)
        if prompt:
            out.update(prompt)
        return out
