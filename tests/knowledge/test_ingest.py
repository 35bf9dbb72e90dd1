"""Ingest: every format, incremental re-ingest, deletion, per-document errors."""

from __future__ import annotations

from pathlib import Path

from knowledge.retrieval import search
from knowledge.service import ingest, remove
from knowledge.store import KnowledgeStore
from tests.knowledge.conftest import make_pdf


def _site(folder: Path) -> None:
    folder.mkdir()
    (folder / "kettle.md").write_text(
        "---\ntitle: Kettle care\nurl: https://shop.example/help/kettle\n---\n"
        "## Descaling\n\nDescale the zephyrine kettle monthly with citric acid.\n"
    )
    (folder / "hours.txt").write_text("Support hours\n\nThe quokka desk answers Monday to Friday.\n")
    (folder / "page.html").write_text(
        "<html><body><main><h1>Shipping</h1><h2>Costs</h2><p>Marmoset parcels cost $5.</p></main></body></html>"
    )
    (folder / "warranty.pdf").write_bytes(make_pdf(["Axolotl teapots have a one year warranty."]))


def _top(store: KnowledgeStore, query: str) -> str:
    return search(query, store=store, k=1).results[0].title


def test_each_format_is_searchable(tmp_path: Path, store: KnowledgeStore) -> None:
    _site(tmp_path / "docs")
    report = ingest([tmp_path / "docs"], store=store)
    assert report.summary["added"] == 4 and report.summary["failed"] == 0
    assert _top(store, "descale zephyrine kettle") == "Kettle care"
    assert _top(store, "quokka desk opening days") == "Support hours"
    assert _top(store, "marmoset parcel shipping cost") == "Shipping"
    assert _top(store, "axolotl teapot warranty") == "warranty"  # PDF without a title: the file name


def test_reingest_is_incremental_and_removes_deleted_documents(tmp_path: Path, store: KnowledgeStore) -> None:
    docs = tmp_path / "docs"
    _site(docs)
    ingest([docs], store=store)
    chunks_before = store.count()

    again = ingest([docs], store=store)
    assert again.summary["unchanged"] == 4 and again.chunks_embedded == 0
    assert store.count() == chunks_before

    (docs / "hours.txt").write_text("Support hours\n\nThe quokka desk now also answers on Saturday.\n")
    (docs / "page.html").unlink()
    third = ingest([docs], store=store)
    assert third.summary == {"added": 0, "changed": 1, "unchanged": 2, "removed": 1, "failed": 0}
    assert "Saturday" in search("quokka desk", store=store, k=1).results[0].text
    titles = {r.title for r in search("marmoset parcels", store=store, k=10).results}
    assert "Shipping" not in titles
    assert len(store.documents()) == 3


def test_bad_documents_are_reported_and_do_not_stop_the_run(tmp_path: Path, store: KnowledgeStore) -> None:
    docs = tmp_path / "docs"
    _site(docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (docs / "empty.html").write_text("<html><body><script>x()</script></body></html>")
    (docs / "bad.md").write_text("---\naudience: [everyone\n---\ntext\n")
    report = ingest([docs, tmp_path / "missing.md"], store=store)
    failed = {Path(o.source).name: o.error for o in report.outcomes if o.status == "failed"}
    assert set(failed) == {"broken.pdf", "empty.html", "bad.md", "missing.md"}
    assert "front matter" in (failed["bad.md"] or "")
    assert report.summary["added"] == 4


def test_remove_by_path(tmp_path: Path, store: KnowledgeStore) -> None:
    docs = tmp_path / "docs"
    _site(docs)
    ingest([docs], store=store)
    removed = remove(str((docs / "kettle.md").resolve()), store=store)
    assert len(removed) == 1
    assert all(r.title != "Kettle care" for r in search("descale zephyrine kettle", store=store, k=10).results)
