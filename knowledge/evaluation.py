"""Retrieval evaluation on a labelled question set: recall@k, MRR, nDCG@10 per mode, no-answer detection.

Relevance is judged per section ("<file stem>#<anchor>"): several chunks of one section count once, at the
rank of the first. Each question's candidates are gathered once and ranked by every mode, so the modes are
compared on exactly the same retrieved material.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from knowledge.errors import EvalSetError
from knowledge.models import VIEWER_AUDIENCES, SearchFilters, SearchMode, Viewer
from knowledge.retrieval import DEFAULT_BM25_WEIGHT, DEFAULT_MIN_SCORE, Candidates, confidence_threshold, gather
from knowledge.store import KnowledgeStore

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")


class LabelledQuestion(BaseModel):
    """A question and the sections that answer it (empty: the knowledge base has no answer)."""

    id: str
    q: str = Field(min_length=1)
    gold: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @property
    def answerable(self) -> bool:
        """Whether some section answers it."""
        return bool(self.gold)


class ModeMetrics(BaseModel):
    """Ranking quality of one retrieval mode over the answerable questions."""

    mode: SearchMode
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    ndcg_at_10: float


class EvalReport(BaseModel):
    """Metrics per mode plus no-answer detection, for one weight and threshold."""

    questions: int
    answerable: int
    no_answer: int
    bm25_weight: float
    min_score: float
    modes: list[ModeMetrics]
    no_answer_detection: float = Field(description="Share of no-answer questions flagged low-confidence.")
    false_low_confidence: float = Field(description="Share of answerable questions wrongly flagged low-confidence.")
    misses: list[dict[str, Any]] = Field(default_factory=list, description="Hybrid: answerable with no gold in top 5.")

    def metrics(self, mode: SearchMode) -> ModeMetrics:
        """Metrics of one mode."""
        return next(m for m in self.modes if m.mode == mode)


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Read and validate a questions YAML file (top-level `questions:` list)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalSetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {exc}") from exc
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise EvalSetError(f"{path}: expected a top-level 'questions:' list")
    out: list[LabelledQuestion] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise EvalSetError(f"{path}: question #{n}: expected a mapping with 'q' and 'gold'")
        qid = str(item.get("id") or f"q{n:03d}")
        if qid in seen:
            raise EvalSetError(f"{path}: question {qid}: duplicate id")
        seen.add(qid)
        if not isinstance(item.get("q"), str) or not item["q"].strip():
            raise EvalSetError(f"{path}: question {qid}: field 'q' must be non-empty text")
        gold = item.get("gold")
        if gold in (None, "none"):
            golds: list[str] = []
        elif isinstance(gold, str):
            golds = [gold]
        elif isinstance(gold, list) and all(isinstance(g, str) for g in gold):
            golds = list(gold)
        else:
            raise EvalSetError(f"{path}: question {qid}: field 'gold' must be a section, a list of them, or none")
        for g in golds:
            if "#" not in g:
                raise EvalSetError(f"{path}: question {qid}: gold {g!r} must look like 'article#anchor'")
        out.append(LabelledQuestion(id=qid, q=item["q"], gold=golds, tags=list(item.get("tags") or [])))
    return out


def section_key(meta: dict[str, Any]) -> str:
    """'<file stem or last URL segment>#<anchor>' of a chunk."""
    source = str(meta.get("source", ""))
    stem = Path(source.split("?", 1)[0].rstrip("/")).stem
    return f"{stem}#{meta.get('anchor') or ''}"


def check_gold(questions: Sequence[LabelledQuestion], store: KnowledgeStore, path: Path) -> None:
    """Fail if a gold section is not in the index (a typo would silently score as a miss)."""
    known = {section_key(meta) for _, _, meta in store.iter_chunks()}
    for q in questions:
        for g in q.gold:
            if g not in known:
                raise EvalSetError(f"{path}: question {q.id}: gold section {g!r} is not in the index")


def _sections(found: Candidates, mode: SearchMode, weight: float, k: int) -> list[str]:
    keys: list[str] = []
    for cid, _ in found.ranking(mode, bm25_weight=weight):
        key = section_key(found.rows[cid][1])
        if key not in keys:
            keys.append(key)
            if len(keys) == k:
                break
    return keys


def _metrics(mode: SearchMode, ranked: list[tuple[list[str], set[str]]]) -> ModeMetrics:
    n = len(ranked) or 1
    r1 = r5 = r10 = mrr = ndcg = 0.0
    for keys, gold in ranked:
        hits = [i for i, key in enumerate(keys[:10]) if key in gold]
        if hits:
            first = hits[0]
            r1 += first < 1
            r5 += first < 5
            r10 += 1
            mrr += 1 / (first + 1)
        dcg = sum(1 / math.log2(i + 2) for i in hits)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), 10)))
        ndcg += dcg / ideal if ideal else 0.0
    return ModeMetrics(
        mode=mode, recall_at_1=r1 / n, recall_at_5=r5 / n, recall_at_10=r10 / n, mrr=mrr / n, ndcg_at_10=ndcg / n
    )


def gather_all(
    questions: Sequence[LabelledQuestion],
    *,
    store: KnowledgeStore,
    viewer: Viewer = "agent",
    progress: Callable[[int], None] | None = None,
) -> list[Candidates]:
    """Candidates of every question (the expensive part: embeds each question once)."""
    filters = SearchFilters(audiences=VIEWER_AUDIENCES[viewer])
    out = []
    for n, q in enumerate(questions, start=1):
        out.append(gather(q.q, store=store, filters=filters))
        if progress:
            progress(n)
    return out


def score(
    questions: Sequence[LabelledQuestion],
    found: Sequence[Candidates],
    *,
    bm25_weight: float = DEFAULT_BM25_WEIGHT,
    min_score: float = DEFAULT_MIN_SCORE,
) -> EvalReport:
    """Metrics of every mode for one BM25 weight and one confidence threshold."""
    modes = []
    for mode in MODES:
        ranked = [
            (_sections(f, mode, bm25_weight, 10), set(q.gold))
            for q, f in zip(questions, found, strict=True)
            if q.answerable
        ]
        modes.append(_metrics(mode, ranked))
    low = [(f.confidence(bm25_weight=bm25_weight) or 0.0) < min_score for f in found]
    no_answer = [lo for q, lo in zip(questions, low, strict=True) if not q.answerable]
    answerable = [lo for q, lo in zip(questions, low, strict=True) if q.answerable]
    misses = []
    for q, f in zip(questions, found, strict=True):
        if q.answerable:
            top = _sections(f, "hybrid", bm25_weight, 5)
            if not set(top) & set(q.gold):
                misses.append({"id": q.id, "q": q.q, "gold": q.gold, "top": top[:3]})
    return EvalReport(
        questions=len(questions),
        answerable=len(answerable),
        no_answer=len(no_answer),
        bm25_weight=bm25_weight,
        min_score=min_score,
        modes=modes,
        no_answer_detection=sum(no_answer) / len(no_answer) if no_answer else 0.0,
        false_low_confidence=sum(answerable) / len(answerable) if answerable else 0.0,
        misses=misses,
    )


def evaluate(
    path: Path,
    *,
    store: KnowledgeStore,
    viewer: Viewer = "agent",
    bm25_weight: float = DEFAULT_BM25_WEIGHT,
    min_score: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Load a question set, check its gold labels against the index, and score every mode."""
    questions = load_questions(path)
    check_gold(questions, store, path)
    found = gather_all(questions, store=store, viewer=viewer, progress=progress)
    threshold = confidence_threshold(store) if min_score is None else min_score
    return score(questions, found, bm25_weight=bm25_weight, min_score=threshold)
