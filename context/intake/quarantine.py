"""The quarantine: values that failed validation, with their reasons; its table and its reads.

Light on purpose (no mapping, no other table: context/intake/models.py names this table with the others), so
`contextdesk quarantine list` builds one table.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Index, Table, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from context.dbtypes import UTCDateTime, table_of


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


QUARANTINE: Table = table_of(QuarantinedValue)


def list_quarantine(
    *, engine: Engine, source: str | None = None, field: str | None = None, limit: int = 200
) -> list[QuarantinedValue]:
    """Quarantined values, newest first, optionally for one source and/or field."""
    from sqlmodel import Session

    with Session(engine) as session:
        query = select(QuarantinedValue).order_by(QuarantinedValue.id.desc())  # type: ignore[union-attr]
        if source:
            query = query.where(QuarantinedValue.source == source)  # type: ignore[arg-type]
        if field:
            query = query.where(QuarantinedValue.field == field)  # type: ignore[arg-type]
        return list(session.scalars(query.limit(limit)).all())


def quarantine_counts(*, engine: Engine) -> dict[str, int]:
    """How many values are in quarantine, per source."""
    with engine.connect() as conn:
        rows = conn.execute(select(QUARANTINE.c.source, func.count()).group_by(QUARANTINE.c.source))
        return {source: count for source, count in rows}
