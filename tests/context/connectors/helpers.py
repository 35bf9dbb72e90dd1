"""Config and connections for connector tests: a contextdesk.yaml with vendor sources, credentials of the fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.canonical.models import CustomerRecord
from context.intake.config import IntakeConfig
from context.intake.connectors import Connections, SourceCredentials
from tests.context.connectors.fakes.server import VirtualTime
from tests.context.intake.factories import write_config


def config(folder: Path, *sources: dict[str, Any]) -> IntakeConfig:
    """A contextdesk.yaml holding these sources, loaded as the CLI loads it."""
    return write_config(folder, list(sources))


def connections(
    vtime: VirtualTime, *, emails: dict[str, str] | None = None, **creds: tuple[str, str | None]
) -> Connections:
    """Connections to the fakes: creds maps a connector name to (base URL, token); emails (Zendesk) by name."""
    return Connections(
        credentials={
            name: SourceCredentials(
                base_url=url, token=SecretStr(token) if token else None, email=(emails or {}).get(name)
            )
            for name, (url, token) in creds.items()
        },
        clock=vtime.now,
        sleep=vtime.sleep,
        monotonic=vtime.monotonic,
        random=lambda: 0.5,
    )


def records(engine: Engine, source: str) -> dict[str, Any]:
    """Canonical records of one source by their id in the source."""
    with engine.connect() as conn:
        rows = conn.execute(select(CustomerRecord.__table__).where(CustomerRecord.__table__.c.source == source))
        return {r.source_record_id: r for r in rows}
