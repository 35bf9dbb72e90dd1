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


def test_a_write_by_another_process_is_seen_after_the_revision_stopped_being_read(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the index's files unchanged a reader stops asking Chroma for the revision; a write must still show
    # at once. (A zero tick: the files count as settled as soon as they are seen twice unchanged.)
    monkeypatch.setattr(store_module, "MTIME_TICK_S", 0.0)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(_PUBLIC)
    server = open_store(path=tmp_path / "chroma", embedder=embedder)
    writer = open_store(path=tmp_path / "chroma", embedder=embedder)
    ingest([docs], store=writer)
    for _ in range(3):
        assert search("descale kettle", store=server, viewer="visitor").results[0].title == "Kettle care"

    (docs / "kettle.md").write_text(_PUBLIC.replace("---\n## ", "audience: internal\n---\n## ", 1))
    ingest([docs], store=writer)
    assert search("descale kettle", store=server, viewer="visitor", k=10).results == []


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


def _quantized_matmul(weights_u8: np.ndarray) -> object:
    """An ONNX Runtime session of one DynamicQuantizeMatMul with these uint8 weights (zero point 128, scale 1)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k, n = weights_u8.shape
    graph = helper.make_graph(
        [helper.make_node("DynamicQuantizeMatMul", ["a", "b", "scale", "zero"], ["y"], domain="com.microsoft")],
        "one_matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n])],
        [
            numpy_helper.from_array(weights_u8, "b"),
            numpy_helper.from_array(np.ones(n, dtype=np.float32), "scale"),
            numpy_helper.from_array(np.full(n, 128, dtype=np.uint8), "zero"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_int8_graph_multiplies_exactly_so_every_cpu_gets_the_same_vectors() -> None:
    # The MiniLM rewrite hands ONNX Runtime uint8 weights: its u8×u8 kernels widen before multiplying on every
    # x86-64 ISA. (With int8 weights, AVX2 machines without VNNI sum product pairs in saturating 16-bit lanes and
    # got other vectors than VNNI machines.) Extreme values make any saturation visible.
    import onnx

    from knowledge.embedders import _int8_matmuls, minilm_files

    rewritten = onnx.load_from_string(_int8_matmuls(minilm_files()[0]))
    weights = {i.name: i for i in rewritten.graph.initializer}
    matmuls = [n for n in rewritten.graph.node if n.op_type == "DynamicQuantizeMatMul"]
    assert matmuls and all(weights[n.input[1]].data_type == onnx.TensorProto.UINT8 for n in matmuls)

    rng = np.random.default_rng(7)
    a = rng.choice(np.array([0.0, 255.0], dtype=np.float32), size=(4, 384))
    a[:, 0], a[:, 1] = 0.0, 255.0  # the row's range is exactly 0..255: activations quantize to themselves
    b = rng.choice(np.array([0, 255], dtype=np.uint8), size=(384, 16))  # weights -128 / +127 after the zero point
    session = _quantized_matmul(b)
    got = session.run(None, {"a": a})[0]  # type: ignore[attr-defined]
    exact = a.astype(np.int64) @ (b.astype(np.int64) - 128)
    assert np.array_equal(got.astype(np.int64), exact)
