"""Retrieval quality on the bundled question set, and clear errors for bad question files."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.help_center import QUESTIONS_PATH
from knowledge.errors import EvalSetError
from knowledge.evaluation import evaluate, load_questions
from knowledge.store import KnowledgeStore


def test_demo_question_set_shape() -> None:
    questions = load_questions(QUESTIONS_PATH)
    assert len(questions) >= 150
    assert sum(not q.answerable for q in questions) >= 15
    assert sum("id" in q.tags for q in questions) >= 25


def test_hybrid_beats_dense_and_bm25_and_flags_unanswerable(demo_store: KnowledgeStore) -> None:
    report = evaluate(QUESTIONS_PATH, store=demo_store)
    hybrid, dense, bm25 = (report.metrics(m) for m in ("hybrid", "dense", "bm25"))
    assert hybrid.recall_at_5 >= 0.90
    assert hybrid.recall_at_5 > dense.recall_at_5 and hybrid.recall_at_5 > bm25.recall_at_5
    assert hybrid.ndcg_at_10 > max(dense.ndcg_at_10, bm25.ndcg_at_10)
    # Uncalibrated: most no-answer questions flagged (the 80% goal is issue 20's, not met: docs/knowledge.md).
    assert report.no_answer_detection > 0.5
    assert report.false_low_confidence <= 0.20


def test_unknown_gold_section_is_reported(tmp_path: Path, demo_store: KnowledgeStore) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("questions:\n  - {id: x1, q: refunds, gold: subscription-refunds#no-such-heading}\n")
    with pytest.raises(EvalSetError, match=r"x1.*no-such-heading"):
        evaluate(path, store=demo_store)


def test_bad_question_names_id_and_field(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("questions:\n  - {id: x2, q: '', gold: a#b}\n")
    with pytest.raises(EvalSetError, match=r"x2.*'q'"):
        load_questions(path)
