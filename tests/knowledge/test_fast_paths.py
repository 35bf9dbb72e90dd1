"""The fast read paths stay correct: writes by another process, filtered-out neighbours, older indexes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge import store as store_module
from knowledge.embedders import MiniLMEmbedder
from knowledge.models import SearchFilters
from knowledge.retrieval import search
from knowledge.service import ingest
from knowledge.store import open_store

_PUBLIC = "---\ntitle: Kettle care\n---\n## Descaling\n\nDescale the zephyrine kettle monthly with citric acid.\n"


def _playbook(n: int) -> str:
    return (
        f"---\ntitle: Refund playbook {n}\naudience: internal\n---\n## Overrides\n\n"
        f"Agents may override the refund limit for case {n} with a manager code.\n"
    )


def test_writes_by_another_process_are_seen_and_filtered(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(_PUBLIC)
    server = open_store(path=tmp_path / "chroma", embedder=embedder)  # e.g. the chat API
    writer = open_store(path=tmp_path / "chroma", embedder=embedder)  # e.g. `kb ingest` in another process
    ingest([docs], store=writer)
    assert search("descale kettle", store=server).results[0].title == "Kettle care"

    # The public article turns internal and an internal one appears: a visitor must see neither, at once.
    (docs / "kettle.md").write_text(_PUBLIC.replace("---\n## ", "audience: internal\n---\n## ", 1))
    (docs / "playbook.md").write_text(_playbook(1))
    ingest([docs], store=writer)
    for query in ("descale kettle", "refund limit override manager code"):
        assert search(query, store=server, viewer="visitor", k=10).results == []
        assert search(query, store=server, viewer="agent", k=10).results


def test_visitor_still_gets_public_passages_when_internal_ones_are_nearest(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 internal near-duplicates crowd the query's neighbourhood; the one public answer must still come back.
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(60):
        (docs / f"playbook-{n}.md").write_text(_playbook(n))
    (docs / "refunds.md").write_text(
        "---\ntitle: Refunds\n---\n## Limits\n\nRefunds above the limit need a manager's approval.\n"
    )
    store = open_store(path=tmp_path / "chroma", embedder=embedder)
    ingest([docs], store=store)
    response = search("refund limit override manager code", store=store, viewer="visitor", mode="dense")
    assert [r.title for r in response.results] == ["Refunds"]
    narrow = SearchFilters.for_viewer("agent", topic="nothing-has-this-topic")
    assert search("refund limit", store=store, filters=narrow).results == []

    # The nearest single chunk is internal: the wider unfiltered look, and (with it made too narrow to help)
    # Chroma's own filter, must both find the public one.
    vector = embedder.embed_query("refund limit override manager code")
    visitor = SearchFilters.for_viewer("visitor")
    for wide in (1000, 1):
        monkeypatch.setattr(store_module, "_WIDE_FETCH", wide)
        hits = store.dense_query(vector, filters=visitor, k=1)
        assert [meta["title"] for _, _, _, meta in hits] == ["Refunds"], wide


def test_index_built_with_float_matmuls_keeps_working_until_rebuilt(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(_PUBLIC)
    old = open_store(path=tmp_path / "chroma", embedder=MiniLMEmbedder(dynamic_int8=False))
    ingest([docs], store=old)

    # Today's default embedder adopts the index's arithmetic instead of failing or mixing vector spaces.
    store = open_store(path=tmp_path / "chroma", embedder=MiniLMEmbedder())
    assert "activations" not in store.embedder.config()
    top = search("descale kettle", store=store).results[0]
    assert top.title == "Kettle care" and top.dense_score is not None and top.dense_score > 0.5

    store.reset()  # what `kb ingest --rebuild` does: now the fast arithmetic
    assert store.embedder.config()["activations"] == "int8-dynamic"
    ingest([docs], store=store)
    assert search("descale kettle", store=store).results[0].title == "Kettle care"


def test_int8_vectors_stay_close_to_the_float_ones(embedder: MiniLMEmbedder) -> None:
    texts = ["How do I get a refund on an annual plan?", "Descale the kettle monthly.", "AUTH-423 account locked"]
    fast = embedder.embed_documents(texts)
    exact = MiniLMEmbedder(dynamic_int8=False).embed_documents(texts)
    assert fast.shape == exact.shape == (3, 384)
    cosines = (fast * exact).sum(axis=1)
    assert np.all(cosines > 0.98), cosines
    # ...and still tell different texts apart.
    assert float(fast[0] @ fast[1]) < 0.9
