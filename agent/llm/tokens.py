"""Token counts of chat messages: the chat-format overhead on top of `context.tokens` (the one token counter).

The text-level functions are re-exported so the LLM layer has one import for its token needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.llm.base import ChatMessage
from context.tokens import ENCODING_NAME, count_tokens, encoding, token_ids, truncate_to_tokens

# OpenAI's chat format adds a few tokens per message (role, separators) and primes the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


def count_chat_tokens(turns: Iterable[tuple[str, str]]) -> int:
    """Tokens of (role, text) chat turns in the prompt, chat-format overhead included."""
    return TOKENS_REPLY_PRIMING + sum(
        TOKENS_PER_MESSAGE + count_tokens(role) + count_tokens(text) for role, text in turns
    )


def count_message_tokens(messages: Sequence[ChatMessage]) -> int:
    """Tokens a list of chat messages takes in the prompt, chat-format overhead included."""
    return count_chat_tokens((m.role, m.content) for m in messages)


__all__ = [
    "ENCODING_NAME",
    "TOKENS_PER_MESSAGE",
    "TOKENS_REPLY_PRIMING",
    "count_chat_tokens",
    "count_message_tokens",
    "count_tokens",
    "encoding",
    "token_ids",
    "truncate_to_tokens",
]
