"""Structure-following chunking: sections (headings) first, then paragraphs, sentences, words.

Token counts use the MiniLM WordPiece tokenizer by default because that is what the default embedder sees:
MiniLM truncates at 256 word pieces, so a chunk (heading path included) must stay below that or its tail is
silently ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from pydantic import BaseModel, Field, model_validator

from knowledge.models import Chunk, ParsedDocument

TokenCounter = Callable[[str], int]
HEADING_SEPARATOR = " › "

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


class ChunkConfig(BaseModel):
    """Chunk size targets in tokens of the counter in use."""

    target_tokens: int = Field(160, gt=0)
    max_tokens: int = Field(230, gt=0, description="Hard ceiling, heading path included (MiniLM sees 256).")
    overlap_tokens: int = Field(30, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ChunkConfig:
        if not self.overlap_tokens < self.target_tokens <= self.max_tokens:
            raise ValueError("need overlap_tokens < target_tokens <= max_tokens")
        return self

    def fingerprint(self) -> str:
        """Text that changes when the chunking would change."""
        return f"{self.target_tokens}/{self.max_tokens}/{self.overlap_tokens}"


def minilm_token_counter() -> TokenCounter:
    """Count MiniLM word pieces (without [CLS]/[SEP])."""
    from knowledge.embedders import load_minilm_tokenizer

    tokenizer = load_minilm_tokenizer(max_tokens=100_000)

    def count(text: str) -> int:
        return max(len(tokenizer.encode(text, add_special_tokens=False).ids), 0)

    return count


def _split_units(text: str, limit: int, count: TokenCounter) -> list[str]:
    """Paragraphs; a paragraph over the limit becomes sentences; a sentence over it becomes word windows."""
    units: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if count(para) <= limit:
            units.append(para)
            continue
        for sentence in _SENTENCE_END.split(para):
            if count(sentence) <= limit:
                units.append(sentence)
                continue
            words = sentence.split()
            window: list[str] = []
            for word in words:
                if window and count(" ".join([*window, word])) > limit:
                    units.append(" ".join(window))
                    window = []
                window.append(word)
            if window:
                units.append(" ".join(window))
    return units


def _tail_overlap(units: list[str], budget: int, count: TokenCounter) -> list[str]:
    """The last sentences of a chunk, up to `budget` tokens, to start the next chunk with."""
    if budget <= 0 or not units:
        return []
    sentences = _SENTENCE_END.split(units[-1])
    tail: list[str] = []
    for sentence in reversed(sentences):
        if count(" ".join([sentence, *tail])) > budget:
            break
        tail.insert(0, sentence)
    return [" ".join(tail)] if tail else []


def chunk_id(doc_id: str, index: int) -> str:
    """Stable id of a document's n-th chunk."""
    return f"{hashlib.sha1(doc_id.encode()).hexdigest()[:16]}:{index:04d}"


def chunk_document(doc: ParsedDocument, *, count: TokenCounter, config: ChunkConfig | None = None) -> list[Chunk]:
    """Split a document into chunks that never cross a heading and fit the token ceiling."""
    config = config or ChunkConfig()
    chunks: list[Chunk] = []
    for section in doc.sections:
        prefix = HEADING_SEPARATOR.join(section.heading_path)
        prefix_tokens = count(prefix) + 1
        # A heading path longer than the budget still leaves room for some text.
        budget = max(config.max_tokens - prefix_tokens, config.max_tokens // 2)
        target = min(config.target_tokens, budget)
        units = _split_units(section.text, budget, count)
        current: list[str] = []
        for unit in units:
            if current and count("\n\n".join([*current, unit])) > target:
                chunks.append(_make(doc, section.heading_path, section.anchor, current, prefix, len(chunks)))
                overlap = _tail_overlap(current, config.overlap_tokens, count)
                current = overlap if count("\n\n".join([*overlap, unit])) <= budget else []
            current.append(unit)
        if current:
            chunks.append(_make(doc, section.heading_path, section.anchor, current, prefix, len(chunks)))
    return chunks


def _make(doc: ParsedDocument, path: list[str], anchor: str, units: list[str], prefix: str, index: int) -> Chunk:
    text = "\n\n".join(units)
    return Chunk(
        chunk_id=chunk_id(doc.doc_id, index),
        doc_id=doc.doc_id,
        index=index,
        text=text,
        embed_text=f"{prefix}\n{text}",
        heading_path=path,
        anchor=anchor,
    )
