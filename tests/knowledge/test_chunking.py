"""Chunks follow headings, fit what the embedder sees, and overlap a little."""

from __future__ import annotations

from knowledge.chunking import ChunkConfig, TokenCounter, chunk_document
from knowledge.models import ParsedDocument, Section


def _doc(sections: list[Section]) -> ParsedDocument:
    return ParsedDocument(
        doc_id="d", source="d.md", root="/", kind="markdown", title="T", sections=sections, content_hash="h"
    )


def test_long_section_splits_within_limit_with_overlap(count_tokens: TokenCounter) -> None:
    sentences = [f"Sentence number {i} explains the annual refund rule in some detail." for i in range(60)]
    paragraphs = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, 60, 5))
    doc = _doc([Section(heading_path=["T", "Billing", "Refunds"], anchor="refunds", text=paragraphs)])
    config = ChunkConfig(target_tokens=120, max_tokens=180, overlap_tokens=30)
    chunks = chunk_document(doc, count=count_tokens, config=config)
    assert len(chunks) > 3
    for chunk in chunks:
        assert count_tokens(chunk.embed_text) <= 180
        assert chunk.embed_text.startswith("T › Billing › Refunds\n")
        assert chunk.anchor == "refunds"
    # Consecutive chunks share their boundary sentence.
    last_sentence = chunks[0].text.split(". ")[-1]
    assert last_sentence in chunks[1].text
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)


def test_chunks_never_cross_headings(count_tokens: TokenCounter) -> None:
    doc = _doc(
        [
            Section(heading_path=["T", "A"], anchor="a", text="Alpha text."),
            Section(heading_path=["T", "B"], anchor="b", text="Beta text."),
        ]
    )
    chunks = chunk_document(doc, count=count_tokens)
    assert [(c.anchor, c.text) for c in chunks] == [("a", "Alpha text."), ("b", "Beta text.")]
    assert len({c.chunk_id for c in chunks}) == 2


def test_one_enormous_word_run_is_still_cut(count_tokens: TokenCounter) -> None:
    doc = _doc([Section(heading_path=["T"], anchor="", text=" ".join(["tea"] * 2000))])
    chunks = chunk_document(doc, count=count_tokens, config=ChunkConfig())
    assert all(count_tokens(c.embed_text) <= ChunkConfig().max_tokens for c in chunks)
