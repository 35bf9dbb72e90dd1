"""Reading the quarantine: values that failed validation, with their reasons (light: no mapping imports)."""

from __future__ import annotations

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine

from context.dbtypes import table_of
from context.intake.models import QuarantinedValue

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
