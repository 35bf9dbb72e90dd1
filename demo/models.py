"""Schemas of the demo package."""

from __future__ import annotations

from datetime import date, datetime
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


class DemoShift(BaseModel):
    """What `shift_dataset` did (demo_shift.json): the story's dates moved by `days` whole days."""

    reference_date: date
    story_now: datetime
    days: int
    now: datetime  # the story's moment after the shift: the clock an eval of the shifted data runs at
    records: dict[str, int] = {}
