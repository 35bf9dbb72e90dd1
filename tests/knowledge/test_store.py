"""The index remembers its embedder; opening it with another one is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.embedders import MiniLMEmbedder, OpenAIEmbedder
from knowledge.errors import EmbedderMismatchError
from knowledge.service import ingest
from knowledge.store import open_store


def test_embedder_mismatch_is_a_clear_error_and_rebuild_clears_it(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    (tmp_path / "a.md").write_text("# Tea\n\n## Steeping\n\nSteep for four minutes.\n")
    store = open_store(path=tmp_path / "chroma", embedder=embedder)
    ingest([tmp_path / "a.md"], store=store)

    # Nothing listens on port 9: the mismatch must be detected before any embedding call.
    other = OpenAIEmbedder(model="text-embedding-3-small", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(EmbedderMismatchError) as err:
        open_store(path=tmp_path / "chroma", embedder=other)
    message = str(err.value)
    assert "minilm" in message and "openai" in message and "--rebuild" in message

    # Same embedder again: fine, and the data is still there.
    assert open_store(path=tmp_path / "chroma", embedder=MiniLMEmbedder()).count() == 1


def test_stats_count_by_audience(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    (tmp_path / "pub.md").write_text("# Public\n\nHello.\n")
    (tmp_path / "int.md").write_text("---\naudience: internal\n---\n# Internal\n\nSecret.\n")
    store = open_store(path=tmp_path / "chroma", embedder=embedder)
    ingest([tmp_path], store=store)
    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.by_audience) == (2, 2, {"everyone": 1, "internal": 1})
    assert stats.embedder == "minilm"
