"""Ridgeline Outfitters: the second bundled test business, shaped unlike the Brightleaf demo on purpose.

A Canadian outdoor-gear shop (CAD, America/Vancouver): order ids of letters and digits (`W2378156` web orders,
`RO-4K7Q2` store and phone orders), its own status words (`Received`, `Backordered`, `In Transit`,
`Awaiting Pickup`, ...), line items with options (size, colour), no subscriptions, a help-desk CSV, a loyalty
sheet and a help center in another style with a staff-only page (demo/kb_eval_sets/ridgeline). The files in
`data/` are written by `demo.ridgeline.generator.generate` (same bytes every time; a test compares them) and
loaded like any business, through `contextdesk.pipeline.load_business` and `data/contextdesk.yaml`.
"""

from __future__ import annotations

from pathlib import Path

from demo.kb_eval_sets import EVAL_SETS_DIR

RIDGELINE_DIR = Path(__file__).parent
DATA_DIR = RIDGELINE_DIR / "data"
CONFIG_PATH = DATA_DIR / "contextdesk.yaml"
#: Ridgeline's help center (shared with the retrieval eval set of the same name).
ARTICLES_DIR = EVAL_SETS_DIR / "ridgeline" / "articles"
#: Ridgeline's answer-quality suite (`contextdesk eval run`).
SUITE = RIDGELINE_DIR.parent / "suites" / "ridgeline.yaml"

__all__ = ["ARTICLES_DIR", "CONFIG_PATH", "DATA_DIR", "RIDGELINE_DIR", "SUITE"]
