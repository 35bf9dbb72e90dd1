"""The Brightleaf Tea Co. demo business: bundled sources with ground truth, a generator for any size, its help
center, its eval suite and baseline, and the retrieval eval sets of two other help centers.

Used by the CLI (`contextdesk demo`, `kb`, `eval`), the tests and the benches; no package of the data spine
(context, knowledge, agent, handoff, evals) imports it (pyproject's import-linter contracts).
"""

from __future__ import annotations

from pathlib import Path

from context.customer_context.config import ContextConfig, load_context_config
from demo.generator import generate
from demo.models import GeneratedDataset

DATA_DIR = Path(__file__).parent / "data"
#: The demo business's answer-quality suite (`contextdesk eval run`).
DEMO_SUITE = Path(__file__).parent / "suites" / "demo.yaml"
#: The grounded responder's committed run of that suite: the CI gate compares against it.
GROUNDED_BASELINE = Path(__file__).parent / "baselines" / "grounded"
BUNDLED_CUSTOMERS = 2_000
BUNDLED_SEED = 7


def bundled_config_path() -> Path:
    """Path of the bundled demo business's contextdesk.yaml."""
    return DATA_DIR / "contextdesk.yaml"


def context_config() -> ContextConfig:
    """The customer-context settings the demo's contextdesk.yaml gives (generated demos share that file)."""
    return load_context_config(bundled_config_path())


__all__ = [
    "BUNDLED_CUSTOMERS",
    "BUNDLED_SEED",
    "DATA_DIR",
    "DEMO_SUITE",
    "GROUNDED_BASELINE",
    "GeneratedDataset",
    "bundled_config_path",
    "context_config",
    "generate",
]
