"""The Brightleaf Tea Co. demo business: bundled sources with ground truth, and a generator for any size."""

from __future__ import annotations

from pathlib import Path

from context.demo.generator import generate
from context.demo.models import GeneratedDataset

DATA_DIR = Path(__file__).parent / "data"
BUNDLED_CUSTOMERS = 2_000
BUNDLED_SEED = 7


def bundled_config_path() -> Path:
    """Path of the bundled demo business's contextdesk.yaml."""
    return DATA_DIR / "contextdesk.yaml"


__all__ = ["BUNDLED_CUSTOMERS", "BUNDLED_SEED", "DATA_DIR", "GeneratedDataset", "bundled_config_path", "generate"]
