"""Schemas of the knowledge base: parsed documents, chunks, search filters and results, ingest reports.

The knowledge base keeps no SQL tables: documents, chunks and the document registry all live in the vector
store (Chroma), so an embedded index and a Chroma server behave the same and cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Audience = Literal["everyone", "customers", "internal"]
AUDIENCES: tuple[Audience, ...] = ("everyone", "customers", "internal")

Viewer = Literal["visitor", "customer", "agent"]
#: What each kind of reader may retrieve. A visitor is anyone not verified as a customer.
VIEWER_AUDIENCES: dict[Viewer, tuple[Audience, ...]] = {
    "visitor": ("everyone",),
    "customer": ("everyone", "customers"),
    "agent": ("everyone", "customers", "internal"),
}

DocumentKind = Literal["markdown", "html", "text", "pdf"]
SearchMode = Literal["hybrid", "dense", "bm25"]
#: Marker stored in a chunk's `plans` list when the content applies to every plan.
ALL_PLANS = "*"


class Section(BaseModel):
    """A run of text under one heading path."""

    heading_path: list[str]
    anchor: str = Field(description="Fragment id of the heading ('' for text before the first heading).")
    text: str


class ParsedDocument(BaseModel):
    """A document read from a file or a URL, split into sections, with its metadata."""

    doc_id: str = Field(description="Stable identity: the canonical URL, or the absolute file path.")
    source: str = Field(description="Where it was read from (file path or URL).")
    root: str = Field(description="The ingest root it belongs to (directory, file or crawl start).")
    kind: DocumentKind
    title: str
    url: str | None = Field(None, description="Public URL used for citations, when known.")
    language: str | None = Field(None, description="Declared language code; None: detected at ingest.")
    updated: datetime | None = None
    audience: Audience = "everyone"
    plans: list[str] = Field(default_factory=list, description="Empty means: applies to every plan.")
    topic: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="Other front-matter fields.")
    sections: list[Section]
    content_hash: str


class Chunk(BaseModel):
    """One retrievable passage of a document."""

    chunk_id: str
    doc_id: str
    index: int
    text: str = Field(description="The passage as shown to readers.")
    embed_text: str = Field(description="What is embedded and indexed: heading path + passage.")
    heading_path: list[str]
    anchor: str


class SearchFilters(BaseModel):
    """Hard filters applied to both dense and lexical retrieval."""

    audiences: tuple[Audience, ...] = Field(VIEWER_AUDIENCES["visitor"], min_length=1)
    plan: str | None = Field(None, description="Reader's plan: hides content restricted to other plans.")
    topic: str | None = None
    language: str | None = None

    @classmethod
    def for_viewer(
        cls,
        viewer: Viewer,
        *,
        plan: str | None = None,
        topic: str | None = None,
        language: str | None = None,
    ) -> SearchFilters:
        """Filters for a kind of reader (visitor, verified customer, support agent)."""
        return cls(audiences=VIEWER_AUDIENCES[viewer], plan=plan, topic=topic, language=language)


class SearchResult(BaseModel):
    """One retrieved passage with what is needed to cite it."""

    chunk_id: str
    doc_id: str
    text: str
    score: float = Field(description="Ranking score of the mode used (hybrid: weighted mix).")
    dense_score: float | None = Field(None, description="Cosine similarity to the query, when computed.")
    bm25_score: float | None = None
    title: str
    heading_path: list[str]
    heading: str = Field(description="Heading path joined with ' › '.")
    anchor: str
    citation_url: str
    audience: Audience
    plans: list[str]
    topic: str | None = None
    language: str
    source: str


class SearchResponse(BaseModel):
    """Ranked passages for a query, and whether the best one is too weak to answer from."""

    query: str
    mode: SearchMode
    results: list[SearchResult]
    low_confidence: bool = Field(description="True when no passage is a confident match: say so or escalate.")
    confidence: float | None = Field(
        None,
        description="Best cosine + term coverage − unknown terms + known identifier (see retrieval.py); for a "
        "cross-lingual match, best cosine + the embedder's cross-lingual gap.",
    )
    best_dense_score: float | None = None
    bm25_weight: float | None = Field(None, description="BM25 share used for this query (hybrid mode).")
    identifiers: list[str] = Field(default_factory=list, description="Identifier words of the query the index holds.")
    query_language: str | None = Field(None, description="Detected language of the query (None: not clear).")
    language_fallback: bool = Field(
        False,
        description="The index has no confident answer in the query's language: the results are in another "
        "language (say so in the reply).",
    )


DocumentStatus = Literal["added", "changed", "unchanged", "removed", "failed"]


class DocumentOutcome(BaseModel):
    """What an ingest run did with one document."""

    source: str
    status: DocumentStatus
    chunks: int = 0
    error: str | None = None


class IngestReport(BaseModel):
    """Summary of an ingest run."""

    outcomes: list[DocumentOutcome] = Field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0

    def count(self, status: DocumentStatus) -> int:
        """How many documents ended with this status."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def summary(self) -> dict[str, int]:
        """Counts per status."""
        statuses: tuple[DocumentStatus, ...] = ("added", "changed", "unchanged", "removed", "failed")
        return {s: self.count(s) for s in statuses}


class StoredDocument(BaseModel):
    """A document as registered in the index."""

    doc_id: str
    source: str
    root: str
    kind: str
    title: str
    url: str | None = None
    audience: str
    content_hash: str
    chunks: int


class StoreStats(BaseModel):
    """Size and identity of an index."""

    location: str
    embedder: str
    embedder_config: dict[str, Any]
    documents: int
    chunks: int
    by_audience: dict[str, int]
