"""Intake tables: raw records (append-only per version), their heads, quarantine and sync runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from context.dbtypes import JSONType, UTCDateTime


class RawRecord(SQLModel, table=True):
    """One version of a source record exactly as read, before any transformation."""

    __tablename__ = "raw_records"
    __table_args__ = (UniqueConstraint("source", "source_record_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_record_id: str = Field(max_length=255)
    version: int
    content_hash: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sync_run_id: int | None = Field(default=None, foreign_key="sync_runs.id")


class RecordHead(SQLModel, table=True):
    """The latest version of each source record: what an idempotent re-sync compares against."""

    __tablename__ = "record_heads"

    source: str = Field(primary_key=True, max_length=64)
    source_record_id: str = Field(primary_key=True, max_length=255)
    version: int
    content_hash: str = Field(max_length=64)
    # Fingerprint of the source's mapping config: a changed mapping re-standardizes unchanged records.
    mapping_hash: str = Field(max_length=64)
    raw_record_id: int = Field(foreign_key="raw_records.id")
    customer_record_id: int | None = Field(default=None, foreign_key="customer_records.id")


class QuarantinedValue(SQLModel, table=True):
    """A value that failed validation or standardization, kept with its reason."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_source_record", "source", "source_record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_record_id: str = Field(max_length=255)
    field: str = Field(max_length=128)
    raw_value: str | None = None
    reason: str
    raw_record_id: int | None = Field(default=None, foreign_key="raw_records.id")
    sync_run_id: int | None = Field(default=None, foreign_key="sync_runs.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class QuarantinedValuePublic(BaseModel):
    """A quarantined value as shown to people."""

    source: str
    source_record_id: str
    field: str
    raw_value: str | None
    reason: str
    created_at: datetime


class SyncRun(SQLModel, table=True):
    """One run of one source."""

    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default="running", max_length=16)  # running | ok | failed
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    remapped: int = 0
    # Rows whose id already appeared earlier in the same source file (the first one is kept).
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None


class SourceSummary(BaseModel):
    """What one source's sync did, for the summary table."""

    source: str
    status: str
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    remapped: int = 0
    # Rows whose id already appeared earlier in the same source file (the first one is kept).
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None
    seconds: float = 0.0
    # Records standardized this run (new, changed, remapped) and how many got each mapped field.
    mapped: int = 0
    fill: list[tuple[str, int, int]] = []
    # Mapping problems: columns found in no record, status words the responder does not know.
    warnings: list[str] = []
