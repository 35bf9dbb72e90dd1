"""context.tokens counts a long text line by line: the sum must be the count of the whole text, exactly."""

from __future__ import annotations

import random
from pathlib import Path

from context.tokens import count_tokens, token_ids
from demo.help_center import ARTICLES_DIR

# Newlines, spaces of several kinds (cl100k's and Python's ideas of a space differ at the edges), letters, digits,
# contractions and punctuation that its pre-tokenizer pieces join to a newline.
PIECES = [
    "\n",
    "\n\n",
    " \n",
    "\r\n",
    "\n ",
    "  ",
    "\t",
    "\x1c",
    "\x85",
    "\u00a0",
    "\u2028",
    "\u3000",
    "a",
    "Zq",
    "1",
    "234",
    "'s",
    "'ll",
    "!",
    "?\n",
    ".\n\n",
    "é",
    "中文",
    " x",
    "-",
    "[DATA 3f9a]",
    "]",
    "'",
    "...",
]


def test_a_long_text_counts_the_same_line_by_line_as_whole() -> None:
    rnd = random.Random(14)
    texts = [path.read_text(encoding="utf-8") for path in sorted(Path(ARTICLES_DIR).rglob("*.md"))]
    texts += ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(200, 700))) for _ in range(500)]
    long_texts = [text * (600 // len(text) + 1) for text in texts if text]
    assert all(len(text) >= 600 for text in long_texts)
    mismatched = [text[:80] for text in long_texts if count_tokens(text) != len(token_ids(text))]
    assert mismatched == []
