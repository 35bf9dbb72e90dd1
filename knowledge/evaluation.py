"""Retrieval evaluation on a labelled question set: recall@k, MRR, nDCG@10 per mode, no-answer detection.

Relevance is judged per section ("<file stem>#<anchor>"): several chunks of one section count once, at the
rank of the first. Each question's candidates are gathered once and ranked by every mode, so the modes are
compared on exactly the same retrieved material.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from knowledge.embedders import Embedder
from knowledge.errors import EvalSetError
from knowledge.models import VIEWER_AUDIENCES, SearchFilters, SearchMode, Viewer
from knowledge.retrieval import (
    DEFAULT_CONFIDENCE,
    DEFAULT_COSINE_SPREAD,
    DEFAULT_FUSION,
    DEFAULT_MIN_SCORE,
    Candidates,
    ConfidenceFeatures,
    ConfidenceScoring,
    DenseScale,
    Fusion,
    confidence_scoring,
    confidence_threshold,
    cosine_spread,
    fusion_for,
    gather,
)
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
    fusion: str
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


def fixed(weight: float, dense_scale: DenseScale = "raw") -> Fusion:
    """A fusion with one BM25 weight for every query."""
    suffix = " minmax" if dense_scale == "minmax" else ""
    return Fusion(
        name=f"fixed {weight:g}{suffix}",
        plain_weight=weight,
        signal_weight=weight,
        signal="none",
        dense_scale=dense_scale,
    )


def _sections(found: Candidates, mode: SearchMode, weight: float, k: int, scale: DenseScale = "raw") -> list[str]:
    keys: list[str] = []
    for cid, _ in found.ranking(mode, bm25_weight=weight, dense_scale=scale):
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
    fusion: Fusion = DEFAULT_FUSION,
    bm25_weight: float | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
    confidences: Sequence[float] | None = None,
    scoring: ConfidenceScoring = DEFAULT_CONFIDENCE,
    spread: float = DEFAULT_COSINE_SPREAD,
) -> EvalReport:
    """Metrics of every mode for one fusion (or one fixed BM25 weight) and one confidence threshold.

    `confidences` replaces the per-question confidence (e.g. a calibrated one); by default the retriever's own.
    """
    if bm25_weight is not None:
        fusion = fixed(bm25_weight)
    weights = [fusion.weight(f.signals) for f in found]
    modes = []
    for mode in MODES:
        ranked = [
            (_sections(f, mode, w, 10, fusion.dense_scale), set(q.gold))
            for q, f, w in zip(questions, found, weights, strict=True)
            if q.answerable
        ]
        modes.append(_metrics(mode, ranked))
    if confidences is None:
        confidences = question_confidences(found, fusion=fusion, scoring=scoring, spread=spread)
    low = [c < min_score for c in confidences]
    no_answer = [lo for q, lo in zip(questions, low, strict=True) if not q.answerable]
    answerable = [lo for q, lo in zip(questions, low, strict=True) if q.answerable]
    misses = []
    for q, f, w in zip(questions, found, weights, strict=True):
        if q.answerable:
            top = _sections(f, "hybrid", w, 5, fusion.dense_scale)
            if not set(top) & set(q.gold):
                misses.append({"id": q.id, "q": q.q, "gold": q.gold, "top": top[:3]})
    return EvalReport(
        questions=len(questions),
        answerable=len(answerable),
        no_answer=len(no_answer),
        fusion=fusion.name,
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
    fusion: Fusion | None = None,
    bm25_weight: float | None = None,
    min_score: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Load a question set, check its gold labels against the index, and score every mode."""
    questions = load_questions(path)
    check_gold(questions, store, path)
    found = gather_all(questions, store=store, viewer=viewer, progress=progress)
    threshold = confidence_threshold(store) if min_score is None else min_score
    return score(
        questions,
        found,
        fusion=fusion or fusion_for(store),
        bm25_weight=bm25_weight,
        min_score=threshold,
        scoring=confidence_scoring(store),
        spread=cosine_spread(store),
    )


# -- confidence calibration -------------------------------------------------------------------------------

#: Most answerable questions a calibrated threshold may flag low-confidence.
MAX_FALSE_FLAGS = 0.05
#: Least share of no-answer questions the flag must catch on every help center (issue 20).
MIN_NO_ANSWER_FLAGGED = 0.80


def question_features(found: Sequence[Candidates], *, fusion: Fusion = DEFAULT_FUSION) -> list[ConfidenceFeatures]:
    """Each question's confidence features under a fusion (computed once, combined by every scoring)."""
    out = []
    for f in found:
        features = f.features(bm25_weight=fusion.weight(f.signals), dense_scale=fusion.dense_scale)
        out.append(
            features
            or ConfidenceFeatures(best_cosine=0.0, coverage=0.0, unknown_share=1.0, identifier=False, passage_terms=0.0)
        )
    return out


def question_confidences(
    found: Sequence[Candidates],
    *,
    fusion: Fusion = DEFAULT_FUSION,
    scoring: ConfidenceScoring = DEFAULT_CONFIDENCE,
    spread: float = DEFAULT_COSINE_SPREAD,
) -> list[float]:
    """Each question's confidence under a fusion and a scoring (what `search` compares with the threshold)."""
    return [scoring.score(f, spread=spread) for f in question_features(found, fusion=fusion)]


def calibrate_threshold(
    questions: Sequence[LabelledQuestion], confidences: Sequence[float], *, max_false: float = MAX_FALSE_FLAGS
) -> float:
    """The threshold that flags at most `max_false` of *new* answerable questions, on average.

    Flagging is `confidence < threshold` and the threshold sits just below one answerable confidence. Below the
    (j+1)-th lowest of n fitted confidences lie j of them, but a new question falls there with probability
    (j+1)/(n+1); so j is the largest with (j+1)/(n+1) ≤ `max_false` (flagging `floor(max_false · n)` of the fitted
    ones, as before, averaged 6% on held-out folds of 49). No-answer questions only matter through what is left.
    """
    answerable = sorted(c for q, c in zip(questions, confidences, strict=True) if q.answerable)
    if not answerable:
        raise EvalSetError("cannot calibrate: the question set has no answerable question")
    allowed = max(0, math.floor(max_false * (len(answerable) + 1)) - 1)
    return round(answerable[allowed] - 1e-6, 6)


class CalibrationReport(BaseModel):
    """No-answer detection with a threshold fitted on other questions of the same index (k-fold)."""

    threshold: float = Field(description="Fitted on every question (what `--calibrate` stores in the index).")
    folds: int
    no_answer_detection: float
    false_low_confidence: float
    no_answer_by_tag: dict[str, float] = Field(
        default_factory=dict,
        description="Share flagged of the no-answer questions carrying each tag (e.g. near-miss, off-topic); "
        "'untagged' for those without one.",
    )


def _flagged_by_tag(questions: Sequence[LabelledQuestion], flagged: Sequence[bool]) -> dict[str, float]:
    """Share of flagged no-answer questions per tag: where the flag fails (near-misses or off-topic questions)."""
    groups: dict[str, list[bool]] = {}
    for q, fl in zip(questions, flagged, strict=True):
        if not q.answerable:
            for tag in q.tags or ["untagged"]:
                groups.setdefault(tag, []).append(fl)
    return {tag: sum(v) / len(v) for tag, v in sorted(groups.items())}


def cross_validate_threshold(
    questions: Sequence[LabelledQuestion], confidences: Sequence[float], *, folds: int = 5
) -> CalibrationReport:
    """Fit the threshold on k−1 folds and flag the held-out fold, for every fold: figures not tuned on themselves."""
    flagged = [False] * len(questions)
    for fold in range(folds):
        train = [i for i in range(len(questions)) if i % folds != fold]
        threshold = calibrate_threshold([questions[i] for i in train], [confidences[i] for i in train])
        for i in range(fold, len(questions), folds):
            flagged[i] = confidences[i] < threshold
    no_answer = [fl for q, fl in zip(questions, flagged, strict=True) if not q.answerable]
    answerable = [fl for q, fl in zip(questions, flagged, strict=True) if q.answerable]
    return CalibrationReport(
        threshold=calibrate_threshold(questions, confidences),
        folds=folds,
        no_answer_detection=sum(no_answer) / len(no_answer) if no_answer else 0.0,
        false_low_confidence=sum(answerable) / len(answerable) if answerable else 0.0,
        no_answer_by_tag=_flagged_by_tag(questions, flagged),
    )


class SplitsReport(BaseModel):
    """Held-out no-answer figures over many random k-fold splits (one split of 10 no-answer questions can move
    a set by 10 points either way)."""

    splits: int
    no_answer_detection: float = Field(description="Mean over the splits.")
    false_low_confidence: float = Field(description="Mean over the splits.")
    goal_met: float = Field(description="Share of the splits on which the flag goal is met.")


def random_splits(
    questions: Sequence[LabelledQuestion],
    confidences: Sequence[float],
    *,
    splits: int = 100,
    folds: int = 5,
    seed: int = 0,
) -> SplitsReport:
    """`cross_validate_threshold` over `splits` random assignments of questions to folds (seeded: repeatable)."""
    rng = random.Random(seed)
    n = len(questions)
    no_answer = [i for i, q in enumerate(questions) if not q.answerable]
    answerable = [i for i, q in enumerate(questions) if q.answerable]
    detected = wrong = met = 0.0
    for _ in range(splits):
        order = list(range(n))
        rng.shuffle(order)
        fold_of = [0] * n
        for position, i in enumerate(order):
            fold_of[i] = position % folds
        flagged = [False] * n
        for fold in range(folds):
            train = [i for i in range(n) if fold_of[i] != fold]
            threshold = calibrate_threshold([questions[i] for i in train], [confidences[i] for i in train])
            for i in range(n):
                if fold_of[i] == fold:
                    flagged[i] = confidences[i] < threshold
        d = sum(flagged[i] for i in no_answer) / len(no_answer) if no_answer else 0.0
        w = sum(flagged[i] for i in answerable) / len(answerable) if answerable else 0.0
        detected, wrong = detected + d, wrong + w
        met += d >= MIN_NO_ANSWER_FLAGGED and w <= MAX_FALSE_FLAGS
    return SplitsReport(
        splits=splits,
        no_answer_detection=detected / splits,
        false_low_confidence=wrong / splits,
        goal_met=met / splits,
    )


# -- several help centers ---------------------------------------------------------------------------------


class SetRun(BaseModel):
    """One evaluation help center indexed and its questions' candidates gathered."""

    model_config = {"arbitrary_types_allowed": True}

    name: str
    questions: list[LabelledQuestion]
    found: list[Any]
    chunks: int
    recall_goal: bool = True
    spread: float = DEFAULT_COSINE_SPREAD
    #: Questions in another language than the pages (translations of some of `questions`), and their candidates.
    translated: list[LabelledQuestion] = Field(default_factory=list)
    translated_found: list[Any] = Field(default_factory=list)


def fusion_candidates() -> list[Fusion]:
    """The fusions `kb eval --all` compares: fixed weights, and query-aware pairs (plain, with a signal)."""
    out = [fixed(w) for w in (0.05, 0.1, 0.2, 0.3)]
    out += [fixed(w, "minmax") for w in (0.1, 0.2, 0.3, 0.4)]
    for signal, plain, high, scale in itertools.product(
        ("ids", "ids+rare"), (0.0, 0.05, 0.1, 0.15, 0.2, 0.3), (0.2, 0.3, 0.4, 0.5, 0.6), ("raw", "minmax")
    ):
        if high > plain:
            suffix = " minmax" if scale == "minmax" else ""
            out.append(
                Fusion(
                    name=f"{signal} {plain:g}/{high:g}{suffix}",
                    plain_weight=plain,
                    signal_weight=high,
                    signal=signal,
                    dense_scale=scale,
                )
            )
    return out


def hybrid_ndcg(run: SetRun, fusion: Fusion) -> float:
    """Hybrid nDCG@10 of a fusion on one help center."""
    return score(run.questions, run.found, fusion=fusion).metrics("hybrid").ndcg_at_10


NdcgTable = dict[tuple[str, str], float]


def ndcg_table(runs: Sequence[SetRun], candidates: Sequence[Fusion]) -> NdcgTable:
    """Hybrid nDCG@10 of every candidate on every help center, keyed (set name, fusion name)."""
    return {(r.name, c.name): hybrid_ndcg(r, c) for r in runs for c in candidates}


def choose_fusion(
    runs: Sequence[SetRun], candidates: Sequence[Fusion], *, table: NdcgTable | None = None, tie: float = 0.002
) -> Fusion:
    """The candidate with the best mean hybrid nDCG@10 over these help centers.

    Within `tie` of the best, the smaller plain-language weight wins: on a public FAQ set (docs/knowledge.md)
    BM25 noise hurt plain questions, and our sets, written with many codes, cannot show that.
    """
    table = table if table is not None else ndcg_table(runs, candidates)
    means = {c.name: sum(table[(r.name, c.name)] for r in runs) / len(runs) for c in candidates}
    best = max(means.values())
    close = [c for c in candidates if means[c.name] >= best - tie]
    return min(close, key=lambda c: (c.plain_weight, -means[c.name]))


class HeldOut(BaseModel):
    """Leave-one-set-out: the fusion chosen without a help center, and how it does on that help center."""

    held_out: str
    chosen: str
    ndcg_at_10: float
    dense_ndcg_at_10: float
    bm25_ndcg_at_10: float


def leave_one_set_out(
    runs: Sequence[SetRun], candidates: Sequence[Fusion], *, table: NdcgTable | None = None
) -> list[HeldOut]:
    """For each help center, choose on the others and score on it."""
    table = table if table is not None else ndcg_table(runs, candidates)
    out = []
    for run in runs:
        chosen = choose_fusion([r for r in runs if r is not run], candidates, table=table)
        report = score(run.questions, run.found, fusion=chosen)
        out.append(
            HeldOut(
                held_out=run.name,
                chosen=chosen.name,
                ndcg_at_10=report.metrics("hybrid").ndcg_at_10,
                dense_ndcg_at_10=report.metrics("dense").ndcg_at_10,
                bm25_ndcg_at_10=report.metrics("bm25").ndcg_at_10,
            )
        )
    return out


def run_eval_set(
    name: str,
    articles: Path,
    questions_path: Path,
    *,
    embedder: Embedder,
    workdir: Path,
    recall_goal: bool = True,
    viewer: Viewer = "agent",
    translated_path: Path | None = None,
) -> SetRun:
    """Index a help center into a fresh index under `workdir` and gather every question's candidates.

    `translated_path`: questions in another language (a multilingual embedder's cross-lingual gap is measured on
    them); gathered only when the embedder declares itself multilingual.
    """
    from knowledge.service import ingest
    from knowledge.store import open_store

    store = open_store(path=workdir / name / "chroma", embedder=embedder, name=f"eval-{name}")
    report = ingest([articles], store=store)
    failed = [o for o in report.outcomes if o.status == "failed"]
    if failed:
        raise EvalSetError(f"{articles}: {failed[0].source}: {failed[0].error}")
    questions = load_questions(questions_path)
    check_gold(questions, store, questions_path)
    found = gather_all(questions, store=store, viewer=viewer)
    translated: list[LabelledQuestion] = []
    translated_found: list[Candidates] = []
    if translated_path is not None and getattr(embedder, "multilingual", False):
        translated = load_questions(translated_path)
        check_gold(translated, store, translated_path)
        translated_found = gather_all(translated, store=store, viewer=viewer)
    return SetRun(
        name=name,
        questions=questions,
        found=found,
        chunks=store.count(),
        recall_goal=recall_goal,
        spread=cosine_spread(store),
        translated=translated,
        translated_found=translated_found,
    )


# -- confidence scoring across help centers -----------------------------------------------------------------


def scoring_candidates() -> list[ConfidenceScoring]:
    """The confidence scorings `kb eval --all` compares (weights in cosine spreads; the first is the old one).

    49 over coverage, unknown terms and identifiers; then the shipped weights plus one more signal each, in both
    directions where its sign is not obvious: whether the query's known words meet in one top passage
    ("scat"), the best BM25 score against the query's attainable one ("bm25"), dense/BM25 agreement on the top
    passage ("agree"), the top-1 vs top-5 cosine margin ("margin", in cosine units).
    """
    out = [ConfidenceScoring(name="cov 1.8 (MiniLM before)", coverage=1.8)]
    for cov, unk, ident in itertools.product((0.0, 0.9, 1.8, 2.7), (0.0, 1.0, 2.0, 3.0), (0.0, 0.75, 1.5)):
        if (cov, unk, ident) != (1.8, 0.0, 0.0):
            out.append(
                ConfidenceScoring(
                    name=f"cov {cov:g} unk {unk:g} id {ident:g}", coverage=cov, unknown=unk, identifier=ident
                )
            )
    base = DEFAULT_CONFIDENCE.model_dump(exclude={"name"})
    extra: list[tuple[str, str, float]] = [("scat", "scattered", w) for w in (0.75, 1.5, 3.0)]
    extra += [("bm25", "attained", w) for w in (-1.5, 0.75, 1.5, 3.0)]
    extra += [("agree", "agreement", w) for w in (-0.75, 0.75, 1.5)]
    extra += [("margin", "margin", w) for w in (-0.2, 0.1, 0.2, 0.4)]
    for label, field, weight in extra:
        out.append(
            ConfidenceScoring.model_validate(
                {**base, field: weight, "name": f"{DEFAULT_CONFIDENCE.name} {label} {weight:g}"}
            )
        )
    return out


CalibrationTable = dict[tuple[str, str], CalibrationReport]


def calibration_table(
    runs: Sequence[SetRun], candidates: Sequence[ConfidenceScoring], fusion: Fusion
) -> CalibrationTable:
    """Held-out (5-fold) no-answer figures of every scoring on every help center, keyed (set, scoring name)."""
    table: CalibrationTable = {}
    for run in runs:
        features = question_features(run.found, fusion=fusion)
        for c in candidates:
            conf = [c.score(f, spread=run.spread) for f in features]
            table[(run.name, c.name)] = cross_validate_threshold(run.questions, conf)
    return table


SplitsTable = dict[tuple[str, str], SplitsReport]


def splits_table(
    runs: Sequence[SetRun], candidates: Sequence[ConfidenceScoring], fusion: Fusion, *, splits: int = 100
) -> SplitsTable:
    """Random-split held-out figures (`random_splits`) of these scorings on every help center."""
    table: SplitsTable = {}
    for run in runs:
        features = question_features(run.found, fusion=fusion)
        for c in candidates:
            conf = [c.score(f, spread=run.spread) for f in features]
            table[(run.name, c.name)] = random_splits(run.questions, conf, splits=splits)
    return table


def meets_flag_goal(report: CalibrationReport) -> bool:
    """≥ 80% of no-answer questions flagged and ≤ 5% of answerable ones (held out)."""
    return report.no_answer_detection >= MIN_NO_ANSWER_FLAGGED and report.false_low_confidence <= MAX_FALSE_FLAGS


def choose_scoring(
    runs: Sequence[SetRun], candidates: Sequence[ConfidenceScoring], table: CalibrationTable
) -> ConfidenceScoring:
    """The scoring meeting the flag goal on the most help centers; then the best mean held-out detection minus
    10 × the mean excess of wrong flags over 5%; then the fewest features (simpler generalizes better)."""

    def key(c: ConfidenceScoring) -> tuple[int, float, int]:
        reports = [table[(r.name, c.name)] for r in runs]
        met = sum(meets_flag_goal(x) for x in reports)
        value = sum(x.no_answer_detection - 10 * max(0.0, x.false_low_confidence - MAX_FALSE_FLAGS) for x in reports)
        return met, round(value / len(reports), 9), -c.features_used()

    return max(candidates, key=key)


class HeldOutScoring(BaseModel):
    """Leave-one-set-out for the confidence: chosen without a help center, scored (5-fold) on it."""

    held_out: str
    chosen: str
    no_answer_detection: float
    false_low_confidence: float


def leave_one_set_out_scoring(
    runs: Sequence[SetRun], candidates: Sequence[ConfidenceScoring], table: CalibrationTable
) -> list[HeldOutScoring]:
    """For each help center, choose the scoring on the others and report its held-out figures on it."""
    out = []
    for run in runs:
        chosen = choose_scoring([r for r in runs if r is not run], candidates, table)
        report = table[(run.name, chosen.name)]
        out.append(
            HeldOutScoring(
                held_out=run.name,
                chosen=chosen.name,
                no_answer_detection=report.no_answer_detection,
                false_low_confidence=report.false_low_confidence,
            )
        )
    return out


class CrossLingualGap(BaseModel):
    """How much lower translated questions' best cosines run than the original questions' confidence."""

    set_name: str
    pairs: int
    gap: float = Field(description="Median of (original's confidence − translation's best cosine).")


def cross_lingual_gap(run: SetRun, *, fusion: Fusion, scoring: ConfidenceScoring) -> CrossLingualGap | None:
    """The cross-lingual gap on one help center (None without translated questions)."""
    if not run.translated:
        return None
    by_id = dict(
        zip(
            (q.id for q in run.questions),
            question_confidences(run.found, fusion=fusion, scoring=scoring, spread=run.spread),
            strict=True,
        )
    )
    diffs = sorted(
        by_id[q.id] - max(f.dense.values(), default=0.0)
        for q, f in zip(run.translated, run.translated_found, strict=True)
        if q.id in by_id
    )
    if not diffs:
        return None
    mid = len(diffs) // 2
    median = diffs[mid] if len(diffs) % 2 else (diffs[mid - 1] + diffs[mid]) / 2
    return CrossLingualGap(set_name=run.name, pairs=len(diffs), gap=round(median, 4))
