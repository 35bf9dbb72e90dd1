"""Sync runs: one row per source per sync, and the counters it shares with the sync's summary.

Apart from the other intake tables (context/intake/models.py names them too): the customer context reads the runs
for its freshness, and `contextdesk customers show` should not build the raw store's and webhook inbox's tables.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from context.dbtypes import UTCDateTime


class SyncCounts(SQLModel):
    """What one sync did to one source's records: the counters its run row, its summary and the CLI share."""

    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    remapped: int = 0
    #: Rows whose id already appeared earlier in the same source file (the first one is kept).
    duplicates: int = 0
    quarantined: int = 0
    #: Records the source reported deleted (tombstoned: dropped from the profile, the raw history kept).
    deleted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


#: The counter names, in the order reports show them.
SYNC_COUNTERS: tuple[str, ...] = tuple(SyncCounts.model_fields)


class SyncRun(SyncCounts, table=True):
    """One run of one source."""

    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default="running", max_length=16)  # running | ok | failed
    error: str | None = None


class SourceSummary(SyncCounts):
    """What one source's sync did, for the summary table."""

    source: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    # Records standardized this run (new, changed, remapped) and how many got each mapped field.
    mapped: int = 0
    fill: list[tuple[str, int, int]] = []
    # Mapping problems: columns found in no record, status words the responder does not know.
    warnings: list[str] = []


class SyncRunPublic(BaseModel):
    """One sync run as `contextdesk sync history` shows it."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    read: int
    new: int
    changed: int
    deleted: int
    error: str | None
