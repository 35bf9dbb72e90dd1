"""Evaluation help centers: each a folder of articles and a labelled question set (test/eval data only).

Written by hand from the pages, in different styles, so that ranking and confidence choices are checked on
content they were not tuned on: the Brightleaf tea shop demo (short FAQ articles, subscriptions, USD),
Ridgeline Outfitters (a Canadian outdoor-gear shop: W-prefixed order ids, CAD, no subscriptions, a staff-only
policy page) and the Aerio H300 air purifier (a product manual split into sections, long policy pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from demo.help_center import ARTICLES_DIR, QUESTIONS_PATH

EVAL_SETS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class EvalSet:
    """A help center to evaluate retrieval on: its articles and its labelled questions."""

    name: str
    description: str
    articles: Path
    questions: Path
    #: Whether the recall@5 ≥ 0.90 goal applies (help centers of shops; the manual set has no such goal).
    recall_goal: bool = True
    #: Spanish translations of some of the questions (a multilingual embedder's cross-lingual gap).
    translated: Path | None = None


EVAL_SETS: tuple[EvalSet, ...] = (
    EvalSet(
        "brightleaf",
        "demo tea shop: short FAQ articles, subscriptions",
        ARTICLES_DIR,
        QUESTIONS_PATH,
        translated=EVAL_SETS_DIR / "spanish" / "brightleaf.yaml",
    ),
    EvalSet(
        "ridgeline",
        "outdoor-gear shop: W-order ids, CAD, staff-only policy",
        EVAL_SETS_DIR / "ridgeline" / "articles",
        EVAL_SETS_DIR / "ridgeline" / "questions.yaml",
        translated=EVAL_SETS_DIR / "spanish" / "ridgeline.yaml",
    ),
    EvalSet(
        "aerio",
        "air purifier manual in sections + long policy pages",
        EVAL_SETS_DIR / "aerio" / "articles",
        EVAL_SETS_DIR / "aerio" / "questions.yaml",
        recall_goal=False,
        translated=EVAL_SETS_DIR / "spanish" / "aerio.yaml",
    ),
)


def eval_set(name: str) -> EvalSet:
    """The evaluation help center called `name` (KeyError naming the known ones otherwise)."""
    for s in EVAL_SETS:
        if s.name == name:
            return s
    raise KeyError(f"no evaluation set {name!r}; known: {', '.join(s.name for s in EVAL_SETS)}")
