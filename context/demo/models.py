"""Schemas of the demo package."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class GeneratedDataset(BaseModel):
    """What `generate` wrote: where, how many records per source, how many people."""

    out_dir: Path
    config_path: Path
    ground_truth_path: Path
    files: dict[str, Path]
    records: dict[str, int]
    persons: int
    personas: int
    seed: int
    seconds: float

    @property
    def total_records(self) -> int:
        """Source records over all sources."""
        return sum(self.records.values())
