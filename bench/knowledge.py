"""Knowledge base benchmark: ingest throughput (chunks/s) and hybrid query latency p50/p99 by index size.

    python bench/knowledge.py            # 1k and 10k chunks
    python bench/knowledge.py --100k     # also 100k chunks (slow: minutes)
    python bench/knowledge.py --full-embed   # embed every chunk for real instead of reusing vectors

Ingest is measured end to end (read Markdown, chunk, embed with MiniLM, write to Chroma) on copies of the demo
help center. To reach 10k/100k chunks quickly, the larger indexes reuse the real vectors of the 1k index with
small random perturbations (latency of HNSW + BM25 does not depend on what the vectors mean); `--full-embed`
embeds everything for real. Query latency includes embedding the query, the filtered Chroma query, BM25 and
fusion, for the visitor audience filter.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the package it measures: drop bench/ from the path so `knowledge` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from knowledge.demo import ARTICLES_DIR, QUESTIONS_PATH  # noqa: E402
from knowledge.embedders import MiniLMEmbedder  # noqa: E402
from knowledge.evaluation import load_questions  # noqa: E402
from knowledge.retrieval import lexical_index, search  # noqa: E402
from knowledge.service import ingest  # noqa: E402
from knowledge.store import KnowledgeStore, open_store  # noqa: E402


def _copies(target: Path, copies: int) -> None:
    for n in range(copies):
        folder = target / f"copy{n}"
        folder.mkdir(parents=True)
        for article in ARTICLES_DIR.glob("*.md"):
            text = article.read_text()
            # A different title per copy makes each copy's texts (and hashes) distinct.
            text = text.replace("\n# ", f"\n# Edition {n}: ", 1)
            (folder / article.name).write_text(text)


def _grow(store: KnowledgeStore, target: int, full_embed: bool) -> None:
    """Add chunks until the index holds `target`, reusing the existing ones' texts and metadata."""
    got = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    ids, texts, metas = got["ids"], got["documents"], got["metadatas"]
    vectors = np.asarray(got["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(7)
    n, batch = store.count(), 2000
    while n < target:
        size = min(batch, target - n)
        pick = rng.integers(0, len(ids), size)
        new_texts = [f"{texts[i]} (variant {n + j})" for j, i in enumerate(pick)]
        if full_embed:
            new_vectors = store.embedder.embed_documents(new_texts)
        else:
            noisy = vectors[pick] + rng.normal(0, 0.02, (size, vectors.shape[1])).astype(np.float32)
            new_vectors = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
        store.chunks.add(
            ids=[f"bench:{n + j}" for j in range(size)],
            embeddings=new_vectors,
            documents=new_texts,
            metadatas=[{**metas[i], "doc_id": f"bench-doc-{(n + j) // 4}"} for j, i in enumerate(pick)],
        )
        n += size
    store._bump()


def _latency(store: KnowledgeStore, queries: list[str]) -> tuple[float, float, float]:
    started = time.perf_counter()
    lexical_index(store)  # build once, as a long-running server would
    build = time.perf_counter() - started
    search(queries[0], store=store)  # warm-up
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q, store=store, viewer="visitor")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], build


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--100k", dest="big", action="store_true", help="also measure at 100k chunks")
    parser.add_argument("--full-embed", action="store_true", help="embed every benchmark chunk for real")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        embedder = MiniLMEmbedder()
        embedder.embed_query("warm up")  # model load is not ingest throughput
        store = open_store(path=work / "chroma", embedder=embedder)
        _copies(work / "docs", 7)
        report = ingest([work / "docs"], store=store)
        rate = report.chunks_embedded / report.seconds
        print(
            f"ingest: {report.chunks_embedded} chunks from {report.count('added')} documents in "
            f"{report.seconds:.1f} s = {rate:.0f} chunks/s (read + chunk + embed + write, 2 threads)"
        )
        again = ingest([work / "docs"], store=store)
        print(f"re-ingest unchanged: {again.count('unchanged')} documents in {again.seconds:.2f} s")

        queries = [q.q for q in load_questions(QUESTIONS_PATH)][:200]
        sizes = [1_000, 10_000] + ([100_000] if args.big else [])
        print(f"{'chunks':>8} {'p50 ms':>8} {'p99 ms':>8} {'bm25 build s':>13}")
        for size in sizes:
            _grow(store, size, args.full_embed)
            p50, p99, build = _latency(store, queries)
            print(f"{store.count():>8} {p50:>8.1f} {p99:>8.1f} {build:>13.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
