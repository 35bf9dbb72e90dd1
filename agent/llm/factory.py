"""Build the agent's ChatModel from explicit LLM settings (called by the composition root)."""

from __future__ import annotations

from pydantic import SecretStr

from agent.llm.base import ChatModel
from agent.llm.openai_chat import OpenAIChatModel
from agent.llm.resilience import CircuitBreaker, ResilientChatModel


def build_chat_model(
    *,
    base_url: str | None,
    api_key: SecretStr | None,
    model: str,
    fallback_model: str | None = None,
    timeout_s: float = 30.0,
    failure_threshold: int = 5,
    reset_timeout_s: float = 30.0,
    json_mode: bool = True,
) -> ChatModel | None:
    """The resilient primary(+fallback) model, or None when no LLM is configured (use the grounded responder)."""
    if base_url is None and api_key is None:
        return None

    def one(name: str) -> OpenAIChatModel:
        return OpenAIChatModel(model=name, base_url=base_url, api_key=api_key, timeout_s=timeout_s, json_mode=json_mode)

    fallback = one(fallback_model) if fallback_model and fallback_model != model else None
    return ResilientChatModel(
        one(model),
        fallback=fallback,
        breaker=CircuitBreaker(name=model, failure_threshold=failure_threshold, reset_timeout_s=reset_timeout_s),
        fallback_breaker=(
            CircuitBreaker(name=fallback.name, failure_threshold=failure_threshold, reset_timeout_s=reset_timeout_s)
            if fallback
            else None
        ),
    )
