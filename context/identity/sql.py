"""Record keys and the raw-SQL helpers the identity modules share (light: no table class, no resolver).

Resolution issues a few dozen small indexed queries per record, and the review queue's read names its records'
people: both go straight through the driver with '?' placeholders, in batches under SQLite's parameter limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy.engine import Connection

from context.bulkwrite import chunks, column_converters
from context.dbtypes import table_of

if TYPE_CHECKING:
    from sqlmodel import Session

CHUNK = 900  # stays under SQLite's bound-parameter limit
KEY_LEN = 330  # 'source:source_record_id' (64 + 1 + 255)
T = TypeVar("T")


def record_key(source: str, source_record_id: str) -> str:
    """The record key 'source:source_record_id'."""
    return f"{source}:{source_record_id}"


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    return chunks(items, size)


def _rows(session: Session | Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run SQL written with '?' placeholders straight through the driver.

    The incremental path issues a few dozen small indexed queries per record; SQLAlchemy's statement
    construction and compilation cost several times what SQLite or PostgreSQL spend answering them.
    """
    # A read that loads no ORM passes its Connection; the resolver passes its Session.
    conn = session if isinstance(session, Connection) else session.connection()
    return list(conn.exec_driver_sql(_in_paramstyle(conn, sql), tuple(params)).fetchall())


def _execute(session: Session, sql: str, params: Sequence[Any]) -> int:
    """Run a write written with '?' placeholders straight through the driver (see `_rows`); rows it changed."""
    conn = session.connection()
    return int(conn.exec_driver_sql(_in_paramstyle(conn, sql), tuple(params)).rowcount)


def _in_paramstyle(conn: Connection, sql: str) -> str:
    # '?' is SQLite's paramstyle; psycopg takes '%s'.
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def _json_value(value: Any) -> Any:
    """A JSON column read through the driver (SQLite: text; PostgreSQL: already decoded)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _db_time(session: Session, model: Any, column: str, value: datetime) -> Any:
    """`value` as the driver stores `model.column` (SQLite: the text SQLAlchemy writes), for a '?' parameter."""
    (convert,) = column_converters(table_of(model), [column], session.connection().dialect.name)
    return value if convert is None else convert(value)


def _utc(value: Any) -> datetime:
    """A UTC datetime read through the driver (raw SQLite text or a driver datetime), as SQLAlchemy returns it."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _ids_for_keys(session: Session | Connection, keys: Iterable[str]) -> dict[str, int]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        source, _, rid = key.partition(":")
        by_source[source].append(rid)
    out: dict[str, int] = {}
    for source, rids in by_source.items():
        for batch2 in _chunks(rids):
            sql = (
                "SELECT source_record_id, source, id FROM customer_records "
                f"WHERE source = ? AND source_record_id IN ({_marks(len(batch2))})"
            )
            for rid, sid, pk in _rows(session, sql, [source, *batch2]):
                out[record_key(sid, rid)] = pk or 0
    return out
