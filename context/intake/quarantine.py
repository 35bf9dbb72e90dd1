"""The quarantine's reads: values that failed validation, with their reasons (the table is
context.intake.models.QuarantinedValue).

Light on purpose: through the table's generated Core copy (context/readtables.py), so `contextdesk quarantine
list` builds no table class and loads no ORM.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from context.readtables import quarantine as QUARANTINE


class QuarantinedValuePublic(BaseModel):
    """A quarantined value as shown to people."""

    source: str
    source_record_id: str
    field: str
    raw_value: str | None
    reason: str
    created_at: datetime


def list_quarantine(
    *, engine: Engine, source: str | None = None, field: str | None = None, limit: int = 200
) -> list[QuarantinedValuePublic]:
    """Quarantined values, newest first, optionally for one source and/or field."""
    q = QUARANTINE.c
    query = select(q.source, q.source_record_id, q.field, q.raw_value, q.reason, q.created_at).order_by(q.id.desc())
    if source:
        query = query.where(q.source == source)
    if field:
        query = query.where(q.field == field)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).mappings().all()
    return [QuarantinedValuePublic.model_validate(dict(row)) for row in rows]


def quarantine_counts(*, engine: Engine) -> dict[str, int]:
    """How many values are in quarantine, per source."""
    with engine.connect() as conn:
        rows = conn.execute(select(QUARANTINE.c.source, func.count()).group_by(QUARANTINE.c.source))
        return {source: count for source, count in rows}
