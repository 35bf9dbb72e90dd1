"""Knowledge base operations: ingest files, folders and sites incrementally; remove documents; search.

Incremental by content hash: a document whose bytes (and indexing options) did not change costs one registry
lookup. Documents previously ingested under the same root (folder, file, or crawled site) and not seen again
are removed with their chunks. A bad document is reported and skipped; it never stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.chunking import ChunkConfig, TokenCounter, chunk_document, minilm_token_counter
from knowledge.crawl import CrawlConfig, crawl
from knowledge.errors import DocumentError
from knowledge.models import (
    Audience,
    Chunk,
    DocumentKind,
    DocumentOutcome,
    DocumentStatus,
    IngestReport,
    ParsedDocument,
)
from knowledge.readers import SUFFIX_KINDS, parse_bytes, read_file
from knowledge.retrieval import search
from knowledge.store import KnowledgeStore

__all__ = ["expand_sources", "ingest", "remove", "search"]

ProgressCallback = Callable[[DocumentOutcome], None]


@dataclass
class _Item:
    """A document to read later (so a progress bar can know the total first)."""

    source: str
    root: str
    path: Path | None = None


def is_url(source: str) -> bool:
    """Whether an ingest source is a web address."""
    return source.startswith(("http://", "https://"))


def expand_sources(sources: Sequence[str | Path]) -> list[_Item]:
    """Local files under each path (folders recursively, supported types only); URLs are kept as they are."""
    items: list[_Item] = []
    for raw in sources:
        source = str(raw)
        if is_url(source):
            items.append(_Item(source=source, root=source))
            continue
        path = Path(source).expanduser()
        root = str(path.resolve())
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix.lower() in SUFFIX_KINDS and not file.name.startswith("."):
                    items.append(_Item(source=str(file), root=root, path=file))
        else:
            items.append(_Item(source=source, root=root, path=path))
    return items


def _kind_for(content_type: str, url: str) -> DocumentKind | None:
    if "html" in content_type:
        return "html"
    if content_type == "application/pdf" or url.lower().endswith(".pdf"):
        return "pdf"
    if content_type in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if content_type == "text/plain":
        return "text"
    return None


def _read_items(
    items: list[_Item], *, default_audience: Audience, crawl_config: CrawlConfig
) -> Iterator[tuple[_Item, ParsedDocument | DocumentError, str]]:
    """Parsed documents (or their errors) with the root each belongs to."""
    for item in items:
        if item.path is not None:
            if not item.path.exists():
                yield item, DocumentError(item.source, "no such file or directory"), item.root
                continue
            try:
                yield item, read_file(item.path, root=item.root, default_audience=default_audience), item.root
            except DocumentError as exc:
                yield item, exc, item.root
            continue
        # A crawl: every page belongs to the start URL's root, so pages gone from the site get pruned.
        for page in crawl(item.source, config=crawl_config):
            page_item = _Item(source=page.url, root=item.root)
            if page.error:
                yield page_item, DocumentError(page.url, page.error), item.root
                continue
            kind = _kind_for(page.content_type, page.url)
            if kind is None:
                yield page_item, DocumentError(page.url, f"unsupported content type {page.content_type!r}"), item.root
                continue
            try:
                doc = parse_bytes(
                    page.body,
                    kind=kind,
                    source=page.url,
                    root=item.root,
                    url=page.url,
                    doc_id=page.url,
                    default_audience=default_audience,
                    updated=page.last_modified,
                )
            except DocumentError as exc:
                yield page_item, exc, item.root
                continue
            yield page_item, doc, item.root


def ingest(
    sources: Sequence[str | Path],
    *,
    store: KnowledgeStore,
    chunk_config: ChunkConfig | None = None,
    count_tokens: TokenCounter | None = None,
    default_audience: Audience = "everyone",
    crawl_config: CrawlConfig | None = None,
    prune: bool = True,
    batch_chunks: int = 256,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Add, update, and (with `prune`) remove documents of these files, folders and URLs in the index."""
    started = time.perf_counter()
    chunk_config = chunk_config or ChunkConfig()
    count_tokens = count_tokens or minilm_token_counter()
    crawl_config = crawl_config or CrawlConfig()
    registry = store.documents()
    report = IngestReport()
    seen: set[str] = set()
    failed: set[str] = set()
    roots: set[str] = set()
    pending: list[tuple[ParsedDocument, list[Chunk], DocumentStatus]] = []

    def record(outcome: DocumentOutcome) -> None:
        report.outcomes.append(outcome)
        if progress:
            progress(outcome)

    def flush() -> None:
        if not pending:
            return
        texts = [c.embed_text for _, chunks, _ in pending for c in chunks]
        vectors = store.embedder.embed_documents(texts)
        items = []
        offset = 0
        for doc, chunks, _ in pending:
            items.append((doc, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        store.replace_documents(items)
        for doc, chunks, status in pending:
            record(DocumentOutcome(source=doc.source, status=status, chunks=len(chunks)))
        report.chunks_embedded += len(texts)
        pending.clear()

    for item, parsed, root in _read_items(
        expand_sources(sources), default_audience=default_audience, crawl_config=crawl_config
    ):
        roots.add(root)
        if isinstance(parsed, DocumentError):
            failed.add(item.source)
            record(DocumentOutcome(source=item.source, status="failed", error=parsed.problem))
            continue
        # Identical content seen twice in one run (e.g. a page reachable under two URLs) is indexed once.
        if parsed.doc_id in seen:
            continue
        seen.add(parsed.doc_id)
        # The chunking settings are part of the hash: changing them re-chunks everything on the next run.
        parsed = parsed.model_copy(update={"content_hash": f"{parsed.content_hash}:{chunk_config.fingerprint()}"})
        known = registry.get(parsed.doc_id)
        if known is not None and known.content_hash == parsed.content_hash:
            record(DocumentOutcome(source=parsed.source, status="unchanged", chunks=known.chunks))
            continue
        if parsed.language is None:
            parsed = parsed.model_copy(update={"language": _detect_language(parsed)})
        chunks = chunk_document(parsed, count=count_tokens, config=chunk_config)
        pending.append((parsed, chunks, "added" if known is None else "changed"))
        if sum(len(c) for _, c, _ in pending) >= batch_chunks:
            flush()
    flush()

    if prune:
        for doc_id, known in registry.items():
            # A missing or 404 document is gone; an unreadable one that still exists keeps its old version.
            gone = known.source in failed and _is_gone(report, known.source)
            if known.root in roots and doc_id not in seen and (known.source not in failed or gone):
                store.delete_document(doc_id)
                record(DocumentOutcome(source=known.source, status="removed", chunks=known.chunks))
    report.seconds = time.perf_counter() - started
    return report


def _detect_language(doc: ParsedDocument) -> str:
    from knowledge.language import document_language

    return document_language(doc.title + "\n" + "\n".join(s.text for s in doc.sections))


def _is_gone(report: IngestReport, source: str) -> bool:
    for outcome in report.outcomes:
        if outcome.source == source and outcome.error:
            return outcome.error.startswith(("HTTP 404", "HTTP 410", "no such file"))
    return False


def remove(doc_ids_or_prefix: str, *, store: KnowledgeStore) -> list[str]:
    """Remove documents whose id or source equals or starts with the given text; returns their ids."""
    removed = []
    for doc_id, known in store.documents().items():
        if doc_id.startswith(doc_ids_or_prefix) or known.source.startswith(doc_ids_or_prefix):
            store.delete_document(doc_id)
            removed.append(doc_id)
    return removed
