"""Intake tables: raw records (append-only per version), their heads, connector cursors, the webhook inbox and
source locks, the quarantine; sync runs (context/intake/runs.py) live beside their reader and are named here too.
The quarantine's reads (context/intake/quarantine.py) go through its generated Core copy (context/readtables.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Boolean, Column, Index, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from context.dbtypes import JSONType, UTCDateTime
from context.intake.quarantine import QuarantinedValuePublic as QuarantinedValuePublic
from context.intake.runs import SYNC_COUNTERS as SYNC_COUNTERS
from context.intake.runs import SourceSummary as SourceSummary
from context.intake.runs import SyncCounts as SyncCounts
from context.intake.runs import SyncRun as SyncRun
from context.intake.runs import SyncRunPublic as SyncRunPublic


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
    # A tombstone: the vendor deleted the record (its canonical rows are gone; earlier versions stay here).
    deleted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


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


class SourceCursor(SQLModel, table=True):
    """Where a connector stream's next incremental pull starts; written in the same transaction as its page."""

    __tablename__ = "source_cursors"

    source: str = Field(primary_key=True, max_length=64)
    cursor: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SourceLock(SQLModel, table=True):
    """Who is syncing a source now: a worker takes the row (or an expired one) before it syncs."""

    __tablename__ = "source_locks"

    source: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebhookEvent(SQLModel, table=True):
    """One received webhook, stored raw before it is acknowledged; processed asynchronously."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        Index("ix_webhook_inbox_pending", "status", "id"),
        Index("ix_webhook_inbox_object", "source", "object_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)  # the connector (YAML entry) name
    event_id: str = Field(max_length=255)
    topic: str = Field(max_length=128)
    object_id: str | None = Field(default=None, max_length=255)
    # When the vendor says the change happened (event time or the object's updated_at), to order deliveries.
    occurred_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending | applied | stale | refetched | failed
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    error: str | None = None


class WebhookEventPublic(BaseModel):
    """A received webhook as shown to people (no body: it holds personal data)."""

    source: str
    event_id: str
    topic: str
    object_id: str | None
    received_at: datetime
    status: str
    error: str | None


class RejectedWebhook(SQLModel, table=True):
    """A webhook that failed verification (forged, replayed, unsigned): logged without its body."""

    __tablename__ = "webhook_rejections"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    reason: str = Field(max_length=255)
    remote: str | None = Field(default=None, max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
