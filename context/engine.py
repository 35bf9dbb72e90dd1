"""Engine factory: one place that knows how ContextDesk talks to SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout so a CLI and a server can share it."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(
        url,
        echo=echo,
        connect_args=connect_args,
        # A server connection can die between checkouts (a restart, an idle timeout); a SQLite file cannot, and
        # the ping would cost a statement on every checkout (several per chat turn).
        pool_pre_ping=not sqlite,
        # orjson is several times faster than json for the raw payloads we store.
        json_serializer=lambda obj: orjson.dumps(obj, default=str).decode(),
        json_deserializer=orjson.loads,
    )
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
