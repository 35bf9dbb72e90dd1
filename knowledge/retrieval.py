"""Hybrid retrieval: dense (Chroma, cosine) + BM25 (bm25s, Snowball English stems), fused by a weighted mix.

fused = (1 - w) · cosine + w · bm25 / max_bm25(query). Dense carries the meaning; BM25 pulls up exact tokens
(order numbers, SKUs, error codes). The weight w is query-aware (`Fusion`): high when the query carries an
identifier the index knows, low for a plain-language question, where BM25 mostly adds noise. The two weights
were chosen across several evaluation help centers with leave-one-set-out checks (`kb eval --all`,
docs/knowledge.md), never on one set. Rank fusion with equal weights was worse than dense alone on a FAQ set.

Confidence (`ConfidenceScoring`) = best cosine + spread × (a · query-term coverage − b · unknown-term share + c ·
known identifier), where coverage is the share of the query's stemmed terms found in the best of the top 3
passages, the unknown-term share is the share of its content terms that no chunk of the index contains, and the
identifier term is 1 when the query names a code the index holds. `spread` is the embedder's typical spread of
best cosines (`cosine_spread`: MiniLM 0.14, e5 0.03), so one set of weights serves embedders whose cosines sit
in very different bands. `ConfidenceFeatures` also carries signals `kb eval --all` compares but the shipped
scoring does not use (weight 0): known terms that never meet in one top passage, the best BM25 score against
the query's attainable one, dense/BM25 agreement on the top passage, the top-1 vs top-5 cosine margin. The
weights were chosen across the evaluation help centers with held-out checks (`kb eval --all`); the threshold is
calibrated per index. Raw BM25 scores are not used: they scale with the corpus (IDF) and the normalized ones are
1.0 for the top hit of any query, so neither says whether the knowledge base holds an answer at all (the best
score over the query's *attainable* one is a candidate, not shipped).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from knowledge.models import (
    VIEWER_AUDIENCES,
    SearchFilters,
    SearchMode,
    SearchResponse,
    SearchResult,
    Viewer,
)
from knowledge.store import ChunkSnapshot, KnowledgeStore

#: The fixed BM25 share shipped before the query-aware fusion (kept as a comparison candidate in `kb eval`).
DEFAULT_BM25_WEIGHT = 0.3
#: Below this confidence the response is flagged low-confidence, for an embedder that declares no starting value:
#: MiniLM's (float path), whose cosine spread is the default one too.
DEFAULT_MIN_SCORE = 0.45
#: Weight of query-term coverage in the confidence before issue 20 (MiniLM cosine units, every embedder).
COVERAGE_WEIGHT = 0.25
#: Typical spread of the best cosine across one help center's questions (MiniLM; embedders declare their own
#: `cosine_spread`): the unit of the confidence's lexical terms.
DEFAULT_COSINE_SPREAD = 0.14
#: Candidates fetched from each retriever before fusion.
DEFAULT_CANDIDATES = 40

# Keep hyphenated/underscored codes whole (BL-TEA-EARLGREY-100, AUTH-401) *and* split into parts, so both
# an exact code and a partial one ("error 401") match.
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
#: English function words ignored when matching query terms (shared with the agent's sentence picker).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


class _Tokenizer:
    def __init__(self) -> None:
        import Stemmer

        self.stemmer = Stemmer.Stemmer("english")
        self._function: set[str] | None = None

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = []
        for match in _TOKEN.finditer(text.lower()):
            token = match.group(0)
            if "-" in token or "_" in token:
                tokens.append(token)
                tokens.extend(p for p in re.split(r"[-_]", token) if p and p not in STOPWORDS)
            elif token not in STOPWORDS:
                tokens.append(token)
        return [t if any(c.isdigit() for c in t) or "-" in t else self.stemmer.stemWord(t) for t in tokens]

    def content_terms(self, text: str) -> set[str]:
        """Stemmed terms of `text` that carry its topic: no digits (order numbers are the customer's, not the
        help center's) and no function words of NLTK's English list (bm25s ships it), wider than STOPWORDS."""
        if self._function is None:
            from bm25s.stopwords import STOPWORDS_EN_PLUS

            self._function = {t for w in STOPWORDS_EN_PLUS for t in self(w)}
        return {t for t in self(text) if not any(c.isdigit() for c in t) and t not in self._function}


_TOKENIZER: _Tokenizer | None = None

# Identifier-shaped words of the raw query: a digit together with letters or separators, or a long number
# (W2378156, PAY-51, E3, RO-STV-2210, 3.2.11, #20417, 1Z12345E0205271688). Short plain numbers ("2 days",
# "$25") are not identifiers.
_WORD = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")


def identifier_words(query: str) -> list[str]:
    """Words of the query shaped like codes, order numbers, SKUs or versions."""
    out = []
    for match in _WORD.finditer(query):
        word = match.group(0)
        digits = sum(c.isdigit() for c in word)
        if not digits:
            continue
        if (digits < len(word) and any(c.isalpha() for c in word)) or any(c in "-_." for c in word) or digits >= 4:
            out.append(word)
    return out


#: An identifier counts as a signal only if it occurs in at most this share of the chunks.
IDENTIFIER_SHARE = 0.05


DenseScale = Literal["raw", "minmax"]


class QuerySignals(BaseModel):
    """What in a query makes exact matching worth more than usual."""

    identifiers: list[str] = Field(default_factory=list, description="Identifier words the index contains.")
    rare_terms: list[str] = Field(default_factory=list, description="Query terms found in very few chunks.")
    unknown_share: float = Field(
        0.0, description="Share of the query's content terms (no digits, no function words) that no chunk contains."
    )
    content_terms: list[str] = Field(default_factory=list, description="The query's content terms (stemmed).")
    bm25_attainable: float = Field(
        0.0, description="BM25 score of a chunk of average length holding each query term once (the query's scale)."
    )


class Fusion(BaseModel):
    """How much BM25 counts for a query: `signal_weight` if the query carries a signal, else `plain_weight`.

    `signal`: 'none' (a fixed weight), 'ids' (identifier words the index contains), or 'ids+rare' (also terms
    that occur in at most `rare_share` of the chunks).
    """

    name: str
    plain_weight: float = Field(ge=0, le=1)
    dense_scale: DenseScale = "raw"
    signal_weight: float = Field(ge=0, le=1)
    signal: Literal["none", "ids", "ids+rare"] = "ids"
    rare_share: float = 0.01

    def weight(self, signals: QuerySignals) -> float:
        """BM25 share of the fused score for a query with these signals."""
        if self.signal == "none":
            return self.plain_weight
        if signals.identifiers or (self.signal == "ids+rare" and signals.rare_terms):
            return self.signal_weight
        return self.plain_weight


#: Chosen by `kb eval --all` across the bundled evaluation help centers (docs/knowledge.md).
DEFAULT_FUSION = Fusion(name="ids 0.1/0.5", plain_weight=0.1, signal_weight=0.5, signal="ids")
#: The fusion used before: one BM25 weight for every query.
FIXED_FUSION = Fusion(
    name="fixed 0.3", plain_weight=DEFAULT_BM25_WEIGHT, signal_weight=DEFAULT_BM25_WEIGHT, signal="none"
)


class ConfidenceFeatures(BaseModel):
    """What a query's confidence is computed from (all cheap: no model call beyond the query's embedding)."""

    best_cosine: float
    coverage: float = Field(description="Share of the query's terms in the best of the top 3 passages.")
    unknown_share: float = Field(description="Share of the query's content terms no chunk contains.")
    identifier: bool = Field(description="The query names an identifier the index holds.")
    passage_terms: float = Field(
        1.0, description="Share of the query's content terms found together in one of the top 3 passages."
    )
    bm25_attained: float = Field(
        0.0, description="Best BM25 score over the query's attainable one (each term once, average length)."
    )
    agreement: bool = Field(False, description="The dense top passage is among BM25's top 5.")
    margin: float = Field(0.0, description="Best cosine minus the 5th best.")

    @property
    def scattered(self) -> float:
        """Share of the content terms that some page contains but no top passage holds together: the pages
        mention the words, no passage puts them together."""
        return max(0.0, 1.0 - self.unknown_share - self.passage_terms)


class ConfidenceScoring(BaseModel):
    """confidence = best cosine + spread × (coverage · c − unknown · u + identifier · i − scattered · s +
    bm25 attained · b + agreement · a) + margin · m.

    The weights are in units of the embedder's cosine spread, so they mean the same with MiniLM and e5 (the
    margin is itself a cosine difference, so its weight needs no unit).
    """

    name: str
    coverage: float = 0.0
    unknown: float = 0.0
    identifier: float = 0.0
    scattered: float = 0.0
    attained: float = 0.0
    agreement: float = 0.0
    margin: float = 0.0

    def score(self, f: ConfidenceFeatures, *, spread: float) -> float:
        """The confidence of a query with these features."""
        bonus = self.coverage * f.coverage - self.unknown * f.unknown_share + self.identifier * f.identifier
        bonus += -self.scattered * f.scattered + self.attained * f.bm25_attained + self.agreement * f.agreement
        return f.best_cosine + spread * bonus + self.margin * f.margin

    def features_used(self) -> int:
        """How many features have a weight (fewer generalizes better when candidates tie)."""
        weights = (self.coverage, self.unknown, self.identifier, self.scattered, self.attained, self.agreement)
        return sum(w != 0 for w in (*weights, self.margin))


#: Chosen by `kb eval --all` across the evaluation help centers with leave-one-set-out checks (docs/knowledge.md).
DEFAULT_CONFIDENCE = ConfidenceScoring(name="cov 1.8 unk 2 id 0.75", coverage=1.8, unknown=2.0, identifier=0.75)


def cosine_spread(store: KnowledgeStore) -> float:
    """The embedder's typical spread of best cosines (the unit of the confidence's lexical terms)."""
    return float(getattr(store.embedder, "cosine_spread", DEFAULT_COSINE_SPREAD))


def _shared_tokenizer() -> _Tokenizer:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = _Tokenizer()
    return _TOKENIZER


class LexicalIndex:
    """An in-memory BM25 index over a snapshot of every chunk (rebuilt when the store's revision changes)."""

    def __init__(self, rows: Sequence[tuple[str, str, dict[str, Any]]] | ChunkSnapshot) -> None:
        import bm25s

        self.tokenize = _shared_tokenizer()
        self.snapshot = rows if isinstance(rows, ChunkSnapshot) else ChunkSnapshot(rows, revision="")
        self.ids = self.snapshot.ids
        self.texts = self.snapshot.texts
        self.metas = self.snapshot.metas
        corpus = [self.tokenize(_indexed_text(text, meta)) for text, meta in zip(self.texts, self.metas, strict=True)]
        #: In how many chunks each token occurs (for rare-term and identifier signals).
        self.df: Counter[str] = Counter(t for doc in corpus for t in set(doc))
        self.bm25 = bm25s.BM25()
        if corpus:
            self.bm25.index(corpus, show_progress=False)

    def query(self, text: str, *, filters: SearchFilters, k: int) -> list[tuple[int, float]]:
        """(row, BM25 score) of the best chunks passing the filters, best first; zero scores dropped."""
        tokens = self.tokenize(text)
        if not self.ids or not tokens:
            return []
        scores = np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)
        scores = np.where(self.snapshot.mask(filters), scores, 0.0)
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k] if len(scores) > k else np.arange(len(scores))
        ranked = sorted(((int(i), float(scores[i])) for i in top if scores[i] > 0), key=lambda x: -x[1])
        return ranked[:k]

    def signals(self, query: str, *, rare_share: float = 0.01) -> QuerySignals:
        """Identifier words of the query that the index contains, and its terms found in very few chunks."""
        # An identifier on every page (the product's model number in a manual) singles nothing out.
        distinctive = max(2, int(IDENTIFIER_SHARE * len(self.ids)))
        ids = [
            w for w in identifier_words(query) if any(0 < self.df.get(t, 0) <= distinctive for t in self.tokenize(w))
        ]
        limit = max(1, int(rare_share * len(self.ids)))
        tokens = self.tokenize(query)
        rare = sorted({t for t in tokens if 0 < self.df.get(t, 0) <= limit})
        content = self.tokenize.content_terms(query)
        unknown = sum(1 for t in content if t not in self.df) / len(content) if content else 0.0
        return QuerySignals(
            identifiers=ids,
            rare_terms=rare,
            unknown_share=unknown,
            content_terms=sorted(content),
            bm25_attainable=self.attainable(tokens),
        )

    def attainable(self, tokens: Sequence[str]) -> float:
        """BM25 score of a chunk of average length holding each of `tokens` once: with bm25s' Lucene IDF
        log(1 + (N − df + 0.5) / (df + 0.5)) and tf = 1 at average length, each term scores exactly its IDF."""
        n = len(self.ids)
        return sum(math.log(1 + (n - self.df.get(t, 0) + 0.5) / (self.df.get(t, 0) + 0.5)) for t in tokens)


def _indexed_text(text: str, meta: dict[str, Any]) -> str:
    return " ".join(json.loads(meta.get("heading_path", "[]"))) + "\n" + text


def lexical_index(store: KnowledgeStore, snapshot: ChunkSnapshot | None = None) -> LexicalIndex:
    """The store's BM25 index, rebuilt only when the index changed since the last build (or `snapshot`'s)."""
    snap = snapshot if snapshot is not None else store.snapshot()
    index = store._lexical
    if index is None or index.snapshot is not snap:
        index = LexicalIndex(snap)
        store._lexical = index
        store._lexical_rev = snap.revision
    return index


def citation_url(meta: dict[str, Any]) -> str:
    """Link to the passage: the page URL (or file URI) plus the heading anchor."""
    base = meta.get("url")
    if not base:
        source = str(meta.get("source", ""))
        base = source if "://" in source else "file://" + source
    anchor = meta.get("anchor") or ""
    if not anchor:
        return str(base)
    return f"{str(base).split('#', 1)[0]}#{anchor}"


def _result(
    chunk_id: str, text: str, meta: dict[str, Any], score: float, dense: float | None, lex: float | None
) -> SearchResult:
    path = json.loads(meta.get("heading_path", "[]"))
    plans = meta.get("plans") or []
    return SearchResult(
        chunk_id=chunk_id,
        doc_id=str(meta.get("doc_id")),
        text=text,
        score=round(score, 6),
        dense_score=None if dense is None else round(dense, 6),
        bm25_score=None if lex is None else round(lex, 6),
        title=str(meta.get("title", "")),
        heading_path=path,
        heading=" › ".join(path),
        anchor=str(meta.get("anchor") or ""),
        citation_url=citation_url(meta),
        audience=meta["audience"],
        plans=[p for p in plans if p != "*"],
        topic=meta.get("topic"),
        language=str(meta.get("language", "en")),
        source=str(meta.get("source", "")),
    )


class Candidates:
    """Dense and BM25 candidates for one query, from which every mode's ranking is derived."""

    def __init__(self, query_tokens: set[str] | None = None, tokenize: _Tokenizer | None = None) -> None:
        self.dense: dict[str, float] = {}
        self.bm25: dict[str, float] = {}
        self.rows: dict[str, tuple[str, dict[str, Any]]] = {}
        self.query_tokens = query_tokens or set()
        self.tokenize = tokenize
        self.signals = QuerySignals()
        self._terms: dict[str, set[str]] = {}

    def _chunk_terms(self, chunk_id: str) -> set[str]:
        terms = self._terms.get(chunk_id)
        if terms is None:
            assert self.tokenize is not None
            text, meta = self.rows[chunk_id]
            terms = self._terms[chunk_id] = set(self.tokenize(_indexed_text(text, meta)))
        return terms

    def coverage(self, chunk_id: str) -> float:
        """Share of the query's terms that occur in this chunk (heading path included)."""
        if not self.query_tokens or self.tokenize is None:
            return 0.0
        return len(self.query_tokens & self._chunk_terms(chunk_id)) / len(self.query_tokens)

    def features(self, *, bm25_weight: float, dense_scale: DenseScale = "raw") -> ConfidenceFeatures | None:
        """What the confidence is computed from (None without dense scores)."""
        if not self.dense:
            return None
        top = self.ranking("hybrid", bm25_weight=bm25_weight, dense_scale=dense_scale)[:3]
        content = set(self.signals.content_terms)
        passage_terms = 1.0
        if content and self.tokenize is not None:
            passage_terms = max(len(content & self._chunk_terms(cid)) / len(content) for cid, _ in top)
        cosines = sorted(self.dense.values(), reverse=True)
        dense_top = max(self.dense, key=lambda cid: self.dense[cid])
        bm25_top5 = sorted(self.bm25, key=lambda cid: -self.bm25[cid])[:5]
        attainable = self.signals.bm25_attainable
        return ConfidenceFeatures(
            best_cosine=cosines[0],
            coverage=max((self.coverage(cid) for cid, _ in top), default=0.0),
            unknown_share=self.signals.unknown_share,
            identifier=bool(self.signals.identifiers),
            passage_terms=passage_terms,
            bm25_attained=max(self.bm25.values()) / attainable if self.bm25 and attainable > 0 else 0.0,
            agreement=dense_top in bm25_top5,
            margin=cosines[0] - cosines[min(4, len(cosines) - 1)],
        )

    def confidence(
        self,
        *,
        bm25_weight: float,
        dense_scale: DenseScale = "raw",
        scoring: ConfidenceScoring = DEFAULT_CONFIDENCE,
        spread: float = DEFAULT_COSINE_SPREAD,
    ) -> float | None:
        """The query's confidence under `scoring` (None without dense scores)."""
        f = self.features(bm25_weight=bm25_weight, dense_scale=dense_scale)
        return None if f is None else scoring.score(f, spread=spread)

    def ranking(
        self, mode: SearchMode, *, bm25_weight: float, dense_scale: DenseScale = "raw"
    ) -> list[tuple[str, float]]:
        """(chunk id, score) best first; `dense_scale` 'minmax' stretches this query's cosines to 0…1 first."""
        if mode == "dense":
            return sorted(self.dense.items(), key=lambda x: -x[1])
        if mode == "bm25":
            return sorted(self.bm25.items(), key=lambda x: -x[1])
        top_bm25 = max(self.bm25.values(), default=0.0) or 1.0
        # A chunk only BM25 found gets the weakest dense score seen (its cosine is at most that).
        floor = min(self.dense.values(), default=0.0)
        low, span = 0.0, 1.0
        if dense_scale == "minmax" and self.dense:
            # Embedders whose cosines sit in a narrow band (e5: 0.75–0.9) would otherwise let BM25 decide.
            low, span = floor, (max(self.dense.values()) - floor) or 1.0
        fused = {
            cid: (1 - bm25_weight) * (self.dense.get(cid, floor) - low) / span
            + bm25_weight * self.bm25.get(cid, 0.0) / top_bm25
            for cid in self.dense.keys() | self.bm25.keys()
        }
        return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


def gather(
    query: str,
    *,
    store: KnowledgeStore,
    filters: SearchFilters,
    candidates: int = DEFAULT_CANDIDATES,
    dense: bool = True,
    lexical: bool = True,
    snapshot: ChunkSnapshot | None = None,
) -> Candidates:
    """Run the dense and/or BM25 retrievers under the same hard filters (on `snapshot` when given)."""
    tokenize = _shared_tokenizer()
    found = Candidates(set(tokenize(query)), tokenize)
    # One snapshot for both retrievers: one revision check per search, and both see the same chunks.
    index = lexical_index(store, snapshot) if lexical else None
    if dense:
        vector = store.embedder.embed_query(query)
        snap = index.snapshot if index is not None else snapshot
        for cid, sim, text, meta in store.dense_query(vector, filters=filters, k=candidates, snapshot=snap):
            found.dense[cid] = sim
            found.rows[cid] = (text, meta)
    if index is not None:
        found.signals = index.signals(query)
        for row, score in index.query(query, filters=filters, k=candidates):
            cid = index.ids[row]
            found.bm25[cid] = score
            found.rows.setdefault(cid, (index.texts[row], index.metas[row]))
    return found


def search(
    query: str,
    *,
    store: KnowledgeStore,
    viewer: Viewer = "visitor",
    filters: SearchFilters | None = None,
    k: int = 5,
    mode: SearchMode = "hybrid",
    bm25_weight: float | None = None,
    fusion: Fusion | None = None,
    min_score: float | None = None,
) -> SearchResponse:
    """Top-k passages a `viewer` may see ('visitor' by default: public content only), with citations.

    `filters` overrides `viewer` when given (e.g. `SearchFilters.for_viewer("customer", plan="pro")`).
    `bm25_weight` fixes the BM25 share; otherwise `fusion` (default: the embedder's, `fusion_for`) picks it from
    the query.
    """
    fusion = fusion or fusion_for(store)
    filters = filters or SearchFilters(audiences=VIEWER_AUDIENCES[viewer])
    # One revision check per search: this snapshot serves the language choice, both retrievers and every pass.
    snap = store.snapshot()
    if min_score is None:
        min_score = confidence_threshold(store, refresh=False)
    scoring, spread = confidence_scoring(store), cosine_spread(store)

    def run(active: SearchFilters, top: int = k, cross_lingual: float | None = None) -> SearchResponse:
        found = gather(
            query,
            store=store,
            filters=active,
            candidates=max(top * 4, DEFAULT_CANDIDATES),
            dense=mode != "bm25",
            lexical=mode != "dense",
            snapshot=snap,
        )
        weight = fusion.weight(found.signals) if bm25_weight is None else bm25_weight
        return respond(
            query,
            found,
            mode=mode,
            k=top,
            bm25_weight=weight,
            min_score=float(min_score),
            dense_scale=fusion.dense_scale,
            scoring=scoring,
            spread=spread,
            cross_lingual=cross_lingual,
        )

    if filters.language is not None:
        return run(filters)  # the caller chose the language
    languages = snap.languages
    from knowledge.language import query_language

    asked = query_language(query, languages=languages) if languages else None
    if asked is None or languages == {asked}:
        return run(filters)
    gap = cross_lingual_confidence_gap(store)
    if asked not in languages:
        # No page in the question's language: every match is cross-lingual, scored as such.
        response = run(filters, cross_lingual=gap)
        return response.model_copy(update={"query_language": asked, "language_fallback": bool(response.results)})
    preferred = run(filters.model_copy(update={"language": asked}))
    return _prefer_language(asked, preferred, run(filters, 2 * k), store, k, float(min_score), gap)


#: Cross-lingual cosines run lower than same-language ones for the same content (multilingual-e5: a Spanish
#: question scored 0.878 with the Spanish page and 0.827 with its English original). Passages in another
#: language get this bonus when deciding whether the question's own language answers it (measured on one small
#: mixed help center; a value for the e5 embedder, see docs/knowledge.md).
CROSS_LINGUAL_GAP = 0.03


def cross_lingual_confidence_gap(store: KnowledgeStore) -> float | None:
    """How much lower a question's best cosine with a page in another language runs than the same question's
    confidence in the page's language (`cross_lingual_confidence_gap` of a multilingual embedder, measured by
    `kb eval --all`); None for an embedder that matches only within one language."""
    gap = getattr(store.embedder, "cross_lingual_confidence_gap", None)
    return float(gap) if isinstance(gap, int | float) else None


def _prefer_language(
    asked: str,
    preferred: SearchResponse,
    overall: SearchResponse,
    store: KnowledgeStore,
    k: int,
    min_score: float,
    gap: float | None,
) -> SearchResponse:
    """Passages in the question's language when they answer it as well as any other; else the others, flagged."""
    allowance = float(getattr(store.embedder, "cross_lingual_gap", CROSS_LINGUAL_GAP))
    others = [r for r in overall.results if r.language != asked]
    best_other = max((r.dense_score for r in others if r.dense_score is not None), default=None)
    best_own = preferred.best_dense_score
    own_answers = bool(preferred.results) and not preferred.low_confidence
    if own_answers and (best_other is None or best_own is None or best_own >= best_other + allowance):
        return preferred.model_copy(update={"query_language": asked})
    if not others:
        return preferred.model_copy(update={"query_language": asked})
    # The question's language has no (better) answer: the other languages' passages, and the reply says so.
    # They are cross-lingual matches: with a measured gap, their confidence is their best cosine plus that gap.
    others_low, confidence = overall.low_confidence, overall.confidence
    if gap is not None and best_other is not None:
        confidence = round(best_other + gap, 6)
        others_low = confidence < min_score
    return overall.model_copy(
        update={
            "results": others[:k],
            "query_language": asked,
            "language_fallback": True,
            "low_confidence": others_low and preferred.low_confidence,
            "confidence": confidence,
        }
    )


def fusion_for(store: KnowledgeStore) -> Fusion:
    """The embedder's own fusion when it declares one (cosine scales differ between models), else the default."""
    fusion = getattr(store.embedder, "fusion", None)
    return fusion if isinstance(fusion, Fusion) else DEFAULT_FUSION


def confidence_threshold(store: KnowledgeStore, *, refresh: bool = True) -> float:
    """The index's calibrated low-confidence threshold, else the embedder's own (cosines differ between models).

    `refresh=False` uses the value seen at the store's last revision check (the caller just made one).
    """
    calibrated = store.calibrated_threshold(refresh=refresh)
    if calibrated is not None:
        return calibrated
    return embedder_threshold(store)


def confidence_scoring(store: KnowledgeStore) -> ConfidenceScoring:
    """The embedder's own confidence scoring when it declares one, else the default."""
    scoring = getattr(store.embedder, "confidence_scoring", None)
    return scoring if isinstance(scoring, ConfidenceScoring) else DEFAULT_CONFIDENCE


def embedder_threshold(store: KnowledgeStore) -> float:
    """The embedder's uncalibrated starting threshold (DEFAULT_MIN_SCORE when it declares none)."""
    return float(getattr(store.embedder, "confidence_threshold", DEFAULT_MIN_SCORE))


def respond(
    query: str,
    found: Candidates,
    *,
    mode: SearchMode,
    k: int,
    bm25_weight: float,
    min_score: float,
    dense_scale: DenseScale = "raw",
    scoring: ConfidenceScoring = DEFAULT_CONFIDENCE,
    spread: float = DEFAULT_COSINE_SPREAD,
    cross_lingual: float | None = None,
) -> SearchResponse:
    """Turn gathered candidates into a ranked, flagged response.

    `cross_lingual`: the question is in a language no page is written in, and this is the embedder's measured
    cross-lingual gap: the confidence is the best cosine plus that gap (the question's words say nothing about
    pages in another language, so coverage and unknown terms are left out).
    """
    ranked = found.ranking(mode, bm25_weight=bm25_weight, dense_scale=dense_scale)[:k]
    results = [
        _result(cid, *found.rows[cid], score, found.dense.get(cid), found.bm25.get(cid)) for cid, score in ranked
    ]
    best_dense = max(found.dense.values(), default=None)
    if cross_lingual is not None and best_dense is not None:
        confidence: float | None = best_dense + cross_lingual
    else:
        confidence = found.confidence(bm25_weight=bm25_weight, dense_scale=dense_scale, scoring=scoring, spread=spread)
    if confidence is None:
        # BM25 only: no calibrated score; require most query terms in the top passage.
        low = not results or found.coverage(results[0].chunk_id) < 0.5
    else:
        low = confidence < min_score
    return SearchResponse(
        query=query,
        mode=mode,
        results=results,
        low_confidence=low,
        confidence=None if confidence is None else round(confidence, 6),
        best_dense_score=None if best_dense is None else round(best_dense, 6),
        bm25_weight=bm25_weight if mode == "hybrid" else None,
        identifiers=found.signals.identifiers,
    )
