"""Knowledge fixtures: one real MiniLM embedder and one ingested demo index shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.help_center import ARTICLES_DIR
from knowledge.chunking import TokenCounter, minilm_token_counter
from knowledge.embedders import MiniLMEmbedder
from knowledge.service import ingest
from knowledge.store import KnowledgeStore, open_store


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """The real offline embedder (loaded once)."""
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def count_tokens() -> TokenCounter:
    """MiniLM word-piece counter."""
    return minilm_token_counter()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> KnowledgeStore:
    """The bundled Brightleaf help center, ingested once; tests must only read from it."""
    store = open_store(path=tmp_path_factory.mktemp("demo") / "chroma", embedder=embedder)
    report = ingest([ARTICLES_DIR], store=store)
    assert report.count("failed") == 0, report.outcomes
    return store


@pytest.fixture
def store(tmp_path: Path, embedder: MiniLMEmbedder) -> KnowledgeStore:
    """An empty index of this test's own."""
    return open_store(path=tmp_path / "chroma", embedder=embedder)


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of Helvetica text per page (pypdf reads but cannot write text)."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    font_id = 3 + 2 * n_pages
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _eval_store(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder, name: str) -> KnowledgeStore:
    from demo.kb_eval_sets import eval_set

    store = open_store(path=tmp_path_factory.mktemp(name) / "chroma", embedder=embedder)
    report = ingest([eval_set(name).articles], store=store)
    assert report.count("failed") == 0, report.outcomes
    return store


@pytest.fixture(scope="session")
def ridgeline_store(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> KnowledgeStore:
    """The Ridgeline outdoor-gear evaluation help center, ingested once; read-only."""
    return _eval_store(tmp_path_factory, embedder, "ridgeline")


@pytest.fixture(scope="session")
def aerio_store(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> KnowledgeStore:
    """The Aerio air-purifier manual evaluation set, ingested once; read-only."""
    return _eval_store(tmp_path_factory, embedder, "aerio")
