"""The knowledge index in Chroma: chunk vectors + a document registry, tagged with the embedder that made them.

Two collections per index: `<name>-chunks` (one record per chunk, our own vectors — Chroma's default embedding
function downloads a model, so no embedding function is ever attached) and `<name>-docs` (one record per
document: content hash, chunk count; drives incremental re-ingest). Every write bumps a revision in the chunk
collection's metadata so other processes know to reload their in-memory copy of the chunks.

Reads go through that in-memory copy (`ChunkSnapshot`: ids, texts, metadata, reloaded when the revision changes):
BM25 searches it, and the dense query asks Chroma only for ids and distances, unfiltered, then applies the
filters here. A Chroma `where` filter costs ~25 ms per query at 10k chunks (vs ~1 ms without), so it is only
the fallback when too few of the nearest chunks pass the filters.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embedders import Embedder, Vectors, describe
from knowledge.errors import EmbedderMismatchError, StoreError
from knowledge.models import ALL_PLANS, Chunk, ParsedDocument, SearchFilters, StoredDocument, StoreStats

_BATCH = 1000
#: Ids asked of the unfiltered dense query in its second, wider try, before falling back to a filtered one.
_WIDE_FETCH = 1000


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
        "language": doc.language or "en",
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


#: Collection metadata key of the per-index calibrated low-confidence threshold. Versioned with the confidence's
#: formula: a threshold stored under the old key was fitted on another scale (best cosine + 0.25 × coverage) and
#: is ignored, so such an index uses its embedder's starting value until `kb eval --calibrate` runs again.
CALIBRATION_KEY = "confidence_threshold_v2"


def _as_threshold(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


#: The coarsest file modification time step a store may sit on (FAT's 2 s): files unchanged for longer than this
#: since they were first seen so cannot hide a write made in the same step.
MTIME_TICK_S = 2.0


class ChunkSnapshot:
    """Every chunk's id, text and metadata at one revision of the index (rows in Chroma's order)."""

    def __init__(self, rows: Sequence[tuple[str, str, dict[str, Any]]], revision: str) -> None:
        self.revision = revision
        self.ids = [r[0] for r in rows]
        self.texts = [r[1] for r in rows]
        self.metas = [r[2] for r in rows]
        self.row = {cid: n for n, cid in enumerate(self.ids)}
        self._masks: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        #: Languages of the chunks (documents' declared or detected language).
        self.languages = frozenset(str(m.get("language") or "en") for m in self.metas)

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Which rows pass the filters (computed once per filter combination)."""
        key = filters.model_dump_json()
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter((matches(m, filters) for m in self.metas), dtype=bool, count=len(self.metas))
            with self._lock:
                # A server sees few distinct filter combinations; the bound only guards against odd callers.
                if len(self._masks) >= 256:
                    self._masks.clear()
                self._masks[key] = mask
        return mask


class KnowledgeStore:
    """One knowledge index: Chroma collections plus the embedder that must be used with them.

    `refresh_seconds`: how long a read may reuse the last revision seen before asking Chroma again (0, the
    default, asks on every search). Writes through this object are seen at once either way.
    `change_files`: the files every write of any process changes (an embedded index's SQLite database and its
    WAL). While their size and modification time stay as they were, the revision cannot have changed and is not
    read again (a stat costs microseconds, the read ~0.4 ms, paid on every chat turn).
    """

    def __init__(
        self,
        client: Any,
        *,
        name: str,
        embedder: Embedder,
        location: str,
        refresh_seconds: float = 0.0,
        change_files: Sequence[Path] = (),
    ) -> None:
        self.client = client
        self.name = name
        self.embedder = embedder
        self._requested = embedder  # `reset` rebuilds with this one, not with an older index's variant
        self.location = location
        self.refresh_seconds = refresh_seconds
        self._lexical: Any = None  # retrieval.LexicalIndex, cached per revision
        self._lexical_rev: str | None = None
        self._snapshot: ChunkSnapshot | None = None
        self._revision: str | None = None
        self._revision_at = 0.0
        self._change_files = tuple(change_files)
        self._files_seen: tuple[tuple[int, int, int], ...] | None = None
        self._files_seen_at = 0.0
        self._calibrated: float | None = None
        self._snapshot_lock = threading.Lock()
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
            # An embedder may offer the variant an older index was built with (e.g. MiniLM's float path).
            variant = self._variant(indexed)
            if variant is None:
                raise EmbedderMismatchError(self.location, f"{indexed[0]} {indexed[1]}", describe(self.embedder))
            self.embedder = variant
        self._revision = None
        self._snapshot = None

    def _variant(self, indexed: tuple[Any, Any]) -> Embedder | None:
        variant_for = getattr(self.embedder, "variant_for", None)
        if variant_for is None or indexed[0] != self.embedder.name or not isinstance(indexed[1], str):
            return None
        try:
            config = json.loads(indexed[1])
        except ValueError:
            return None
        variant = variant_for(config) if isinstance(config, dict) else None
        return variant if isinstance(variant, Embedder) else None

    # -- registry -------------------------------------------------------------------------------------------

    def documents(self) -> dict[str, StoredDocument]:
        """Every registered document by id."""
        got = self.docs.get(include=["metadatas"])
        return {
            doc_id: StoredDocument(doc_id=doc_id, **meta)
            for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def revision(self) -> str:
        """Changes on every write: ours at once, other processes' within `refresh_seconds`."""
        now = time.monotonic()
        if self._revision is not None and now - self._revision_at < self.refresh_seconds:
            return self._revision
        # Stat before reading: a write landing between the two changes the files seen at the next check.
        files = self._files_state()
        if files != self._files_seen:
            self._files_seen, self._files_seen_at = files, now
        elif self._revision is not None and files is not None and now - self._files_seen_at >= MTIME_TICK_S:
            # Unchanged for longer than a file system's coarsest mtime tick: a later write must show.
            return self._revision
        collection = self.client.get_collection(f"{self.name}-chunks", embedding_function=None)
        meta = collection.metadata or {}
        self._revision = str(meta.get("revision", ""))
        self._calibrated = _as_threshold(meta.get(CALIBRATION_KEY))
        self._revision_at = now
        return self._revision

    def _files_state(self) -> tuple[tuple[int, int, int], ...] | None:
        """(inode, size, mtime ns) of each change file, a missing one as zeros; None without change files."""
        if not self._change_files:
            return None
        state = []
        for path in self._change_files:
            try:
                st = path.stat()
            except OSError:
                state.append((0, 0, 0))
            else:
                state.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(state)

    def calibrated_threshold(self, *, refresh: bool = True) -> float | None:
        """The low-confidence threshold calibrated for this index (`kb eval --calibrate`), if any.

        `refresh=False`: as of the last revision check (no Chroma read).
        """
        if refresh or self._revision is None:
            self.revision()
        return self._calibrated

    def set_calibrated_threshold(self, threshold: float) -> None:
        """Store this index's low-confidence threshold in the index itself (seen by every process using it)."""
        meta = dict(self.chunks.metadata or {})
        meta[CALIBRATION_KEY] = float(threshold)
        meta["revision"] = uuid.uuid4().hex
        self.chunks.modify(metadata=meta)
        self._calibrated = threshold
        self._revision = None

    def _bump(self) -> None:
        meta = dict(self.chunks.metadata or {})
        meta["revision"] = uuid.uuid4().hex
        self.chunks.modify(metadata=meta)
        self._revision = None  # re-read on the next search, which then reloads the snapshot
        self._snapshot = None
        self._lexical = None

    def snapshot(self) -> ChunkSnapshot:
        """Every chunk's id, text and metadata at the current revision (reloaded only when it changed)."""
        rev = self.revision()
        snap = self._snapshot
        if snap is not None and snap.revision == rev:
            return snap
        with self._snapshot_lock:
            snap = self._snapshot
            if snap is None or snap.revision != rev:
                # A write racing this load makes the revision change again, so the copy is reloaded once more.
                snap = ChunkSnapshot(list(self.iter_chunks()), rev)
                self._snapshot = snap
        return snap

    # -- writes ---------------------------------------------------------------------------------------------

    def replace_document(self, doc: ParsedDocument, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Write a document's chunks (dropping its old ones) and register it."""
        self.replace_documents([(doc, chunks, vectors)])

    def replace_documents(self, items: Sequence[tuple[ParsedDocument, Sequence[Chunk], Vectors]]) -> None:
        """Write several documents' chunks (dropping their old ones) and register them: one Chroma call per step.

        Chroma's per-call overhead (~20 ms) dominated writing one short document at a time.
        """
        if not items:
            return
        for doc, chunks, vectors in items:
            if len(chunks) != len(vectors):
                raise StoreError(f"{doc.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        try:
            self._write(items)
        except Exception as exc:
            if len(items) == 1:
                raise StoreError(f"cannot write {items[0][0].source} to the knowledge index: {exc}") from exc
            # Write one by one so the error names the document that Chroma refused.
            for item in items:
                self.replace_documents([item])
        finally:
            self._bump()

    def _write(self, items: Sequence[tuple[ParsedDocument, Sequence[Chunk], Vectors]]) -> None:
        doc_ids = [doc.doc_id for doc, _, _ in items]
        self.chunks.delete(where={"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": doc_ids}})
        rows = [(doc, c) for doc, chunks, _ in items for c in chunks]
        parts = [np.asarray(v, dtype=np.float32).reshape(len(v), -1) for _, _, v in items if len(v)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        for start in range(0, len(rows), _BATCH):
            part = rows[start : start + _BATCH]
            self.chunks.add(
                ids=[c.chunk_id for _, c in part],
                embeddings=vectors[start : start + _BATCH],
                documents=[c.text for _, c in part],
                metadatas=[chunk_metadata(doc, c) for doc, c in part],
            )
        records = [
            StoredDocument(
                doc_id=doc.doc_id,
                source=doc.source,
                root=doc.root,
                kind=doc.kind,
                title=doc.title,
                url=doc.url,
                audience=doc.audience,
                content_hash=doc.content_hash,
                chunks=len(chunks),
            ).model_dump(exclude={"doc_id"}, exclude_none=True)
            for doc, chunks, _ in items
        ]
        self.docs.upsert(ids=doc_ids, embeddings=[[1.0]] * len(doc_ids), metadatas=records)

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
        self.embedder = self._requested
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
        self, vector: Vectors, *, filters: SearchFilters, k: int, snapshot: ChunkSnapshot | None = None
    ) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Nearest chunks passing the filters: (id, cosine similarity, text, metadata), best first."""
        snap = snapshot if snapshot is not None else self.snapshot()
        passing = int(snap.mask(filters).sum())
        if passing == 0 or k <= 0:
            return []
        query = [np.asarray(vector, dtype=np.float32)]
        # Over-fetch in proportion to how much the filters reject, so that usually k of the nearest pass; when
        # the query sits among filtered-out chunks (an internal topic asked by a visitor), look wider once.
        first = min(len(snap), max(4 * k, math.ceil(2 * k * len(snap) / passing)))
        for fetch in dict.fromkeys([first, max(first, min(len(snap), _WIDE_FETCH))]):
            got = self.chunks.query(query_embeddings=query, n_results=fetch, include=["distances"])
            rows = self._resolve(snap, got["ids"][0], got["distances"][0], filters)
            if len(rows) >= min(k, passing) or fetch >= len(snap):
                return rows[:k]
        # Still too few pass (a narrow filter): let Chroma filter. Slower, and still re-checked.
        got = self.chunks.query(query_embeddings=query, n_results=k, where=where_clause(filters), include=["distances"])
        return self._resolve(snap, got["ids"][0], got["distances"][0], filters)[:k]

    def _resolve(
        self, snap: ChunkSnapshot, ids: Sequence[str], distances: Sequence[float], filters: SearchFilters
    ) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Text and metadata of Chroma's hits, keeping only those that pass the filters."""
        mask = snap.mask(filters)
        fresh: dict[str, tuple[str, dict[str, Any]]] = {}
        missing = [cid for cid in ids if cid not in snap.row]
        if missing:
            # Written by another process since the snapshot: read them (and their audience) from Chroma.
            got = self.chunks.get(ids=missing, include=["documents", "metadatas"])
            fresh = {i: (t, dict(m)) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        out = []
        for cid, dist in zip(ids, distances, strict=True):
            row = snap.row.get(cid)
            if row is not None:
                if not mask[row]:
                    continue
                text, meta = snap.texts[row], snap.metas[row]
            elif cid in fresh:
                text, meta = fresh[cid]
            else:
                continue  # deleted since Chroma answered
            # Checked twice (mask, then here): a visitor must never see internal text, even if one path regressed.
            if matches(meta, filters):
                out.append((cid, 1.0 - float(dist), text, meta))
        return out

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
    refresh_seconds: float = 0.0,
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
    # Chroma's embedded metadata (our revision among it) lives in one SQLite database; every write changes it.
    database = None if host or path is None else path / "chroma.sqlite3"
    return KnowledgeStore(
        client,
        name=name,
        embedder=embedder,
        location=location,
        refresh_seconds=refresh_seconds,
        change_files=() if database is None else (database, database.with_name("chroma.sqlite3-wal")),
    )
