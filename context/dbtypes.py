"""Column types and table helpers shared by the context tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns timezone-aware UTC datetimes (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: standardize to UTC before storing")
        value = value.astimezone(UTC)
        # SQLite stores text; keep it naive-UTC so comparisons sort correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Where "now" comes from when one call needs several moments (e.g. a sync stamping batch after batch). The
#: composition root passes the wall clock (contextdesk.clock.system_now); tests pass a clock of their own.
#: Nothing in the data spine reads the wall clock itself.
Clock = Callable[[], datetime]


JSONType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


def table_of(model: Any) -> Table:
    """The Core `Table` of a SQLModel table class (for bulk reads and writes that skip the ORM)."""
    table: Table = model.__table__
    return table
