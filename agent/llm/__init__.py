"""The agent's language-model layer: one narrow ChatModel interface, an OpenAI-compatible implementation,
retries inside a deadline, circuit breakers, a fallback model, structured AgentAnswer output and offline
token counting. Every failure is an `agent.errors.LLMError`; callers fall back to the grounded responder.
"""

from agent.llm.base import AgentAnswer, ChatMessage, ChatModel, LLMResult
from agent.llm.factory import build_chat_model
from agent.llm.openai_chat import OpenAIChatModel
from agent.llm.output import OUTPUT_INSTRUCTIONS, parse_answer, with_output_instructions
from agent.llm.resilience import BreakerState, CircuitBreaker, ResilientChatModel
from agent.llm.tokens import count_message_tokens, count_tokens, truncate_to_tokens

__all__ = [
    "OUTPUT_INSTRUCTIONS",
    "AgentAnswer",
    "BreakerState",
    "ChatMessage",
    "ChatModel",
    "CircuitBreaker",
    "LLMResult",
    "OpenAIChatModel",
    "ResilientChatModel",
    "build_chat_model",
    "count_message_tokens",
    "count_tokens",
    "parse_answer",
    "truncate_to_tokens",
    "with_output_instructions",
]
