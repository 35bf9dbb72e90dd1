"""The knowledge index in Chroma: chunk vectors + a document registry, tagged with the embedder that made them.

Two collections per index: `<name>-chunks` (one record per chunk, our own vectors — Chroma's default embedding
function downloads a model, so no embedding function is ever attached) and `<name>-docs` (one record per
document: content hash, chunk count; drives incremental re-ingest). Every write bumps a revision in the chunk
collection's metadata so other processes know to rebuild their in-memory BM25 index.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embedders import Embedder, Vectors, describe
from knowledge.errors import EmbedderMismatchError, StoreError
from knowledge.models import ALL_PLANS, Chunk, ParsedDocument, SearchFilters, StoredDocument, StoreStats

_BATCH = 1000


def chunk_metadata(doc: ParsedDocument, chunk: Chunk) -> dict[str, Any]:
    """Flat Chroma metadata of a chunk (Chroma accepts no None values; lists must be non-empty)."""
    meta: dict[str, Any] = {
        "doc_id": doc.doc_id,
        "index": chunk.index,
        "title": doc.title,
        "heading_path": json.dumps(chunk.heading_path, ensure_ascii=False),
        "anchor": chunk.anchor,
        "audience": doc.audience,
        "plans": doc.plans or [ALL_PLANS],
        "language": doc.language,
        "source": doc.source,
        "kind": doc.kind,
    }
    for key, value in (("url", doc.url), ("topic", doc.topic)):
        if value:
            meta[key] = value
    if doc.updated:
        meta["updated"] = doc.updated.isoformat()
    return meta


def where_clause(filters: SearchFilters) -> dict[str, Any]:
    """The Chroma `where` equivalent of `matches` (both must agree: one filters dense, one lexical)."""
    clauses: list[dict[str, Any]] = [{"audience": {"$in": list(filters.audiences)}}]
    if filters.plan:
        clauses.append({"$or": [{"plans": {"$contains": ALL_PLANS}}, {"plans": {"$contains": filters.plan.lower()}}]})
    if filters.topic:
        clauses.append({"topic": filters.topic})
    if filters.language:
        clauses.append({"language": filters.language.lower()})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(meta: dict[str, Any], filters: SearchFilters) -> bool:
    """Whether a chunk's metadata passes the filters."""
    if meta.get("audience") not in filters.audiences:
        return False
    plans = meta.get("plans") or [ALL_PLANS]
    if filters.plan and ALL_PLANS not in plans and filters.plan.lower() not in plans:
        return False
    if filters.topic and meta.get("topic") != filters.topic:
        return False
    return not (filters.language and meta.get("language") != filters.language.lower())


class KnowledgeStore:
    """One knowledge index: Chroma collections plus the embedder that must be used with them."""

    def __init__(self, client: Any, *, name: str, embedder: Embedder, location: str) -> None:
        self.client = client
        self.name = name
        self.embedder = embedder
        self.location = location
        self._lexical: Any = None  # retrieval.LexicalIndex, cached per revision
        self._lexical_rev: str | None = None
        self._open_collections()

    def _open_collections(self) -> None:
        wanted = {"embedder": self.embedder.name, "embedder_config": json.dumps(self.embedder.config(), sort_keys=True)}
        try:
            self.chunks = self.client.get_or_create_collection(
                f"{self.name}-chunks",
                embedding_function=None,
                metadata={**wanted, "revision": uuid.uuid4().hex},
                configuration={"hnsw": {"space": "cosine"}},
            )
            self.docs = self.client.get_or_create_collection(f"{self.name}-docs", embedding_function=None)
        except Exception as exc:  # chromadb raises many error types (connection, validation, sqlite)
            raise StoreError(f"cannot open knowledge index at {self.location}: {exc}") from exc
        meta = self.chunks.metadata or {}
        indexed = (meta.get("embedder"), meta.get("embedder_config"))
        if indexed != (wanted["embedder"], wanted["embedder_config"]):
            raise EmbedderMismatchError(self.location, f"{indexed[0]} {indexed[1]}", describe(self.embedder))

    # -- registry -------------------------------------------------------------------------------------------

    def documents(self) -> dict[str, StoredDocument]:
        """Every registered document by id."""
        got = self.docs.get(include=["metadatas"])
        return {
            doc_id: StoredDocument(doc_id=doc_id, **meta)
            for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def revision(self) -> str:
        """Changes on every write (read fresh, so writes by other processes are seen)."""
        collection = self.client.get_collection(f"{self.name}-chunks", embedding_function=None)
        return str((collection.metadata or {}).get("revision", ""))

    def _bump(self) -> None:
        meta = dict(self.chunks.metadata or {})
        meta["revision"] = uuid.uuid4().hex
        self.chunks.modify(metadata=meta)
        self._lexical = None

    # -- writes ---------------------------------------------------------------------------------------------

    def replace_document(self, doc: ParsedDocument, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Write a document's chunks (dropping its old ones) and register it."""
        if len(chunks) != len(vectors):
            raise StoreError(f"{doc.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        try:
            self.chunks.delete(where={"doc_id": doc.doc_id})
            for start in range(0, len(chunks), _BATCH):
                part = chunks[start : start + _BATCH]
                self.chunks.add(
                    ids=[c.chunk_id for c in part],
                    embeddings=np.asarray(vectors[start : start + _BATCH], dtype=np.float32),
                    documents=[c.text for c in part],
                    metadatas=[chunk_metadata(doc, c) for c in part],
                )
            record = StoredDocument(
                doc_id=doc.doc_id,
                source=doc.source,
                root=doc.root,
                kind=doc.kind,
                title=doc.title,
                url=doc.url,
                audience=doc.audience,
                content_hash=doc.content_hash,
                chunks=len(chunks),
            )
            meta = record.model_dump(exclude={"doc_id"}, exclude_none=True)
            self.docs.upsert(ids=[doc.doc_id], embeddings=[[1.0]], metadatas=[meta])
        except Exception as exc:
            raise StoreError(f"cannot write {doc.source} to the knowledge index: {exc}") from exc
        self._bump()

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and its chunks."""
        self.chunks.delete(where={"doc_id": doc_id})
        self.docs.delete(ids=[doc_id])
        self._bump()

    def reset(self) -> None:
        """Delete everything, including the embedder tag (to rebuild with another embedder)."""
        for suffix in ("chunks", "docs"):
            # Absent already (chromadb raises a version-dependent error type): nothing to delete.
            with contextlib.suppress(Exception):
                self.client.delete_collection(f"{self.name}-{suffix}")
        self._lexical = None
        self._open_collections()

    # -- reads ----------------------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of chunks."""
        return int(self.chunks.count())

    def iter_chunks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) of every chunk, in pages."""
        total = self.count()
        for offset in range(0, total, 5000):
            got = self.chunks.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            yield from zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)

    def dense_query(
        self, vector: Vectors, *, filters: SearchFilters, k: int
    ) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Nearest chunks passing the filters: (id, cosine similarity, text, metadata)."""
        n = min(k, self.count())
        if n == 0:
            return []
        got = self.chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n,
            where=where_clause(filters),
            include=["distances", "documents", "metadatas"],
        )
        rows = zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0], strict=True)
        # Re-check in Python too: a visitor must never see internal text, even if a where clause regressed.
        return [(i, 1.0 - float(d), t, dict(m)) for i, d, t, m in rows if matches(dict(m), filters)]

    def stats(self) -> StoreStats:
        """Counts and embedder of the index."""
        by_audience: dict[str, int] = {}
        for _, _, meta in self.iter_chunks():
            key = str(meta.get("audience"))
            by_audience[key] = by_audience.get(key, 0) + 1
        return StoreStats(
            location=self.location,
            embedder=self.embedder.name,
            embedder_config=self.embedder.config(),
            documents=int(self.docs.count()),
            chunks=self.count(),
            by_audience=by_audience,
        )


def open_store(
    *,
    path: Path | None = None,
    host: str | None = None,
    port: int = 8000,
    embedder: Embedder,
    name: str = "knowledge",
) -> KnowledgeStore:
    """Open (creating if needed) an index: embedded at `path`, or on a Chroma server at `host:port`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if host:
            client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
            location = f"http://{host}:{port}"
        elif path is not None:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            location = str(path)
        else:
            raise StoreError("open_store needs a path (embedded index) or a host (Chroma server)")
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open Chroma at {host or path}: {exc}") from exc
    return KnowledgeStore(client, name=name, embedder=embedder, location=location)
