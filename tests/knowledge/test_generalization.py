"""Retrieval on help centers it was not tuned on: identifiers, plain paraphrases, calibrated no-answer flags."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from demo.kb_eval_sets import EVAL_SETS, eval_set
from knowledge.evaluation import (
    LabelledQuestion,
    calibrate_threshold,
    cross_validate_threshold,
    evaluate,
    gather_all,
    load_questions,
    question_confidences,
    random_splits,
    scoring_candidates,
    section_key,
)
from knowledge.retrieval import (
    COVERAGE_WEIGHT,
    DEFAULT_CONFIDENCE,
    DEFAULT_COSINE_SPREAD,
    DEFAULT_FUSION,
    FIXED_FUSION,
    ConfidenceScoring,
    identifier_words,
    search,
)
from knowledge.service import ingest
from knowledge.store import KnowledgeStore, open_store


def _top_section(query: str, store: KnowledgeStore, **kwargs: object) -> str:
    response = search(query, store=store, viewer="agent", **kwargs)  # type: ignore[arg-type]
    assert response.results, query
    top = response.results[0]
    return section_key({"source": top.source, "anchor": top.anchor})


def test_every_eval_set_has_answerable_no_answer_and_id_questions() -> None:
    for s in EVAL_SETS:
        questions = load_questions(s.questions)
        assert len(questions) >= 40, s.name
        # ~30 no-answer questions per set: with 10, one question moved a set's no-answer rate by 10 points.
        assert sum(not q.answerable for q in questions) >= 30, s.name
        assert sum("id" in q.tags for q in questions) >= 6, s.name


def test_identifier_words_are_codes_not_plain_numbers() -> None:
    assert identifier_words("order W2378156 failed with PAY-51 on 3.2.11") == ["W2378156", "PAY-51", "3.2.11"]
    assert identifier_words("it shows E3") == ["E3"]
    assert identifier_words("shipping cost for a $25 order in 2 days") == []


@pytest.mark.parametrize(
    ("store_name", "query", "section"),
    [
        ("ridgeline_store", "payment failed with PAY-54", "payment-and-declines#decline-codes"),
        ("ridgeline_store", "is RO-HRN-0450 affected", "recalls#ridgeline-vertex-climbing-harness-sku-ro-hrn-0450"),
        ("aerio_store", "what does E4 mean", "troubleshooting#e4-overheating"),
        ("aerio_store", "H300-F3T or H300-F3P", "filters#filter-options-and-part-numbers"),
        ("demo_store", "got chamomile instead of BL-TEA-EARLGREY-100", "damaged-or-wrong-items#wrong-item-received"),
    ],
)
def test_id_heavy_query_ranks_the_page_with_the_id_first(
    store_name: str, query: str, section: str, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue(store_name)
    response = search(query, store=store, viewer="agent")
    assert response.identifiers, "the identifier should be recognised as one the index holds"
    assert response.bm25_weight == DEFAULT_FUSION.signal_weight
    assert _top_section(query, store) == section


@pytest.mark.parametrize(
    ("store_name", "query", "section"),
    [
        ("ridgeline_store", "how long does delivery take to Halifax", "shipping-in-canada#delivery-times-by-province"),
        ("ridgeline_store", "where is the serial number on my headlamp", "warranty-claims#making-a-claim"),
        ("aerio_store", "how much electricity does it use", "specifications#power-and-noise"),
        (
            "aerio_store",
            "I bought it second hand, does the warranty carry over",
            "warranty-policy#transferring-the-warranty",
        ),
    ],
)
def test_plain_paraphrase_is_not_pushed_down_by_bm25_noise(
    store_name: str, query: str, section: str, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue(store_name)
    # Dense alone gets these right; the old fixed BM25 share let a page sharing common words overtake it.
    assert _top_section(query, store, mode="dense") == section
    assert _top_section(query, store, bm25_weight=FIXED_FUSION.plain_weight) != section
    assert _top_section(query, store) == section


@pytest.mark.parametrize("name", ["ridgeline", "aerio"])
def test_hybrid_is_never_worse_than_either_part_on_the_other_help_centers(
    name: str, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue(f"{name}_store")
    report = evaluate(eval_set(name).questions, store=store)
    hybrid, dense, bm25 = (report.metrics(m) for m in ("hybrid", "dense", "bm25"))
    assert hybrid.ndcg_at_10 >= max(dense.ndcg_at_10, bm25.ndcg_at_10)
    if eval_set(name).recall_goal:
        assert hybrid.recall_at_5 >= 0.90


@pytest.mark.parametrize(
    ("name", "no_answer", "answerable"),
    [
        ("brightleaf", "do you have a shop in Boston I can visit", "how do I start a return"),
        ("ridgeline", "do you sell fishing licences", "how much is the deposit for a sea kayak rental"),
        ("aerio", "can I mount it on the wall", "how often should the filter be changed"),
    ],
)
def test_calibrated_flag_marks_a_no_answer_question_in_each_set(
    name: str, no_answer: str, answerable: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fixture = "demo_store" if name == "brightleaf" else f"{name}_store"
    shared: KnowledgeStore = request.getfixturevalue(fixture)
    # Calibrate a copy of the index (the shared one stays read-only) on the set's *other* questions.
    location = Path(shared.location)
    shutil.copytree(location, tmp_path / "chroma")
    store = open_store(path=tmp_path / "chroma", embedder=shared.embedder)
    questions = [q for q in load_questions(eval_set(name).questions) if q.q not in (no_answer, answerable)]
    found = gather_all(questions, store=store)
    store.set_calibrated_threshold(calibrate_threshold(questions, question_confidences(found)))

    reopened = open_store(path=tmp_path / "chroma", embedder=shared.embedder)
    assert reopened.calibrated_threshold() == store.calibrated_threshold()
    assert search(no_answer, store=reopened, viewer="agent").low_confidence
    assert not search(answerable, store=reopened, viewer="agent").low_confidence


def test_calibrated_threshold_flags_at_most_five_percent_of_new_answerable_questions() -> None:
    questions = [LabelledQuestion(id=f"a{i}", q="q", gold=["a#b"]) for i in range(49)]
    threshold = calibrate_threshold(questions, [i / 100 for i in range(49)])
    # Below the 2nd lowest of 49 a new question falls with probability 2/50 = 4%; below the 3rd (flagging
    # floor(5% of 49) = 2 of them, the rule before) with 3/50 = 6%.
    assert sum(i / 100 < threshold for i in range(49)) == 1


_SET_FIXTURES = [("brightleaf", "demo_store"), ("ridgeline", "ridgeline_store"), ("aerio", "aerio_store")]


@pytest.mark.parametrize(("name", "fixture"), _SET_FIXTURES)
def test_calibrated_threshold_keeps_wrong_flags_within_five_percent_held_out(
    name: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    store: KnowledgeStore = request.getfixturevalue(fixture)
    questions = load_questions(eval_set(name).questions)
    found = gather_all(questions, store=store)
    calibrated = cross_validate_threshold(questions, question_confidences(found))
    assert calibrated.false_low_confidence <= 0.05
    # The confidence before (best cosine + coverage) flags no more no-answer questions at that constraint.
    before = ConfidenceScoring(name="before", coverage=COVERAGE_WEIGHT / DEFAULT_COSINE_SPREAD)
    old = cross_validate_threshold(questions, question_confidences(found, scoring=before))
    assert old.no_answer_detection <= calibrated.no_answer_detection
    assert calibrated.no_answer_detection >= 0.30, "well above chance (5% of them at a 5% wrong-flag rate)"


@pytest.mark.xfail(
    strict=True,
    reason="issue 20 goal not met: with ~35 no-answer questions per set (near-misses among them) the cheap "
    "confidence signals flag 39-64% held out (docs/knowledge.md); remove this mark when the goal holds",
)
@pytest.mark.parametrize(("name", "fixture"), _SET_FIXTURES)
def test_shipped_confidence_meets_the_flag_goal_held_out(
    name: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    store: KnowledgeStore = request.getfixturevalue(fixture)
    questions = load_questions(eval_set(name).questions)
    calibrated = cross_validate_threshold(questions, question_confidences(gather_all(questions, store=store)))
    assert calibrated.no_answer_detection >= 0.80 and calibrated.false_low_confidence <= 0.05


def test_words_no_page_contains_lower_the_confidence(demo_store: KnowledgeStore) -> None:
    # A no-answer question next to a real topic (referrals, discounts): "loyalty", "points", "tiers" occur in
    # no page. A plain answerable question's words all do.
    no_answer, answerable = "is there a loyalty points program with tiers", "how do I start a return"
    found = gather_all(
        [LabelledQuestion(id="n", q=no_answer), LabelledQuestion(id="a", q=answerable, gold=["x#y"])],
        store=demo_store,
    )
    assert found[0].signals.unknown_share >= 0.5 and found[1].signals.unknown_share == 0.0
    assert search(no_answer, store=demo_store, viewer="agent").low_confidence
    assert not search(answerable, store=demo_store, viewer="agent").low_confidence


def _two_page_store(store: KnowledgeStore, tmp_path: Path) -> KnowledgeStore:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "returns.md").write_text("# Returns\n\nSend the parcel back within 30 days for a refund.\n")
    (pages / "gift-cards.md").write_text("# Gift cards\n\nA gift card never expires and works on every order.\n")
    report = ingest([pages], store=store)
    assert report.count("failed") == 0, report.outcomes
    return store


def test_words_the_pages_mention_apart_count_as_scattered(store: KnowledgeStore, tmp_path: Path) -> None:
    _two_page_store(store, tmp_path)
    together, apart = gather_all(
        [LabelledQuestion(id="t", q="does a gift card expire"), LabelledQuestion(id="a", q="refund a gift card")],
        store=store,
    )
    joint = together.features(bm25_weight=DEFAULT_FUSION.plain_weight)
    split = apart.features(bm25_weight=DEFAULT_FUSION.plain_weight)
    assert joint is not None and split is not None
    # Every word of both questions is on some page; only the first one's words meet in one passage.
    assert joint.unknown_share == split.unknown_share == 0.0
    assert joint.passage_terms == 1.0 and joint.scattered == 0.0
    assert split.passage_terms < 1.0 and split.scattered == pytest.approx(1 - split.passage_terms)
    assert joint.agreement, "dense and BM25 agree on the gift-card passage"
    assert joint.bm25_attained > split.bm25_attained > 0.0
    assert joint.margin >= 0.0


def test_shipped_confidence_ignores_the_signals_it_gives_no_weight(demo_store: KnowledgeStore) -> None:
    (found,) = gather_all([LabelledQuestion(id="a", q="how do I start a return", gold=["x#y"])], store=demo_store)
    features = found.features(bm25_weight=DEFAULT_FUSION.plain_weight)
    assert features is not None
    s = DEFAULT_CONFIDENCE
    expected = features.best_cosine + DEFAULT_COSINE_SPREAD * (
        s.coverage * features.coverage - s.unknown * features.unknown_share + s.identifier * features.identifier
    )
    assert s.score(features, spread=DEFAULT_COSINE_SPREAD) == pytest.approx(expected)
    bumped = s.model_copy(update={"margin": 1.0})
    assert bumped.score(features, spread=DEFAULT_COSINE_SPREAD) == pytest.approx(expected + features.margin)


def test_candidates_keep_the_grid_and_add_one_signal_each_to_the_shipped_weights() -> None:
    candidates = scoring_candidates()
    names = [c.name for c in candidates]
    assert len(names) == len(set(names))
    # The coverage × unknown × identifier grid (its cov 1.8 point is the confidence before) is still all there.
    grid = [c for c in candidates if c.scattered == c.attained == c.agreement == c.margin == 0]
    assert len(grid) == 4 * 4 * 3
    added = [c for c in candidates if c.name.startswith(DEFAULT_CONFIDENCE.name + " ")]
    assert added and all(c.features_used() == DEFAULT_CONFIDENCE.features_used() + 1 for c in added)
    assert {"scattered", "attained", "agreement", "margin"} <= {
        field for c in added for field in ("scattered", "attained", "agreement", "margin") if getattr(c, field)
    }


def test_random_splits_are_repeatable_and_bound_the_fixed_split() -> None:
    questions = [LabelledQuestion(id=f"a{i}", q="q", gold=["a#b"]) for i in range(60)]
    questions += [LabelledQuestion(id=f"n{i}", q="q") for i in range(10)]
    separable = [0.5 + i / 1000 for i in range(60)] + [0.1 + i / 1000 for i in range(10)]
    report = random_splits(questions, separable, splits=20)
    assert report == random_splits(questions, separable, splits=20)
    assert report.no_answer_detection == 1.0 and report.goal_met == 1.0
    # Two no-answer questions above every answerable one, plus threshold noise: the goal (8 of 10) hangs on the split.
    mixed = [0.5 + i / 1000 for i in range(60)] + [0.1 + i / 1000 for i in range(7)] + [0.5005, 0.9, 0.95]
    shaky = random_splits(questions, mixed, splits=50)
    assert 0.0 < shaky.goal_met < 1.0
    assert 0.6 <= shaky.no_answer_detection <= 0.8


def test_held_out_figures_say_which_kind_of_no_answer_question_the_flag_misses() -> None:
    questions = [LabelledQuestion(id=f"a{i}", q="q", gold=["a#b"]) for i in range(40)]
    questions += [LabelledQuestion(id=f"o{i}", q="q", tags=["off-topic"]) for i in range(5)]
    questions += [LabelledQuestion(id=f"n{i}", q="q", tags=["near-miss"]) for i in range(5)]
    questions += [LabelledQuestion(id="u", q="q")]
    # Off-topic and untagged questions score far below every answerable one; near-misses score like answerable ones.
    confidences = [0.5 + i / 1000 for i in range(40)] + [0.1] * 5 + [0.6] * 5 + [0.1]
    report = cross_validate_threshold(questions, confidences)
    assert report.no_answer_by_tag == {"near-miss": 0.0, "off-topic": 1.0, "untagged": 1.0}
