"""Config and connections for connector tests: a contextdesk.yaml with vendor sources, credentials of the fakes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.canonical.models import CustomerRecord
from context.customer_context.config import ContextConfig, load_context_config
from context.identity.rules import default_rules
from context.identity.service import resolve_pending
from context.intake.config import IntakeConfig
from context.intake.connectors import Connections, SourceCredentials
from context.intake.service import sync
from context.profiles.service import recompute_profiles
from contextdesk.app import create_app
from contextdesk.settings import Settings
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


@dataclass
class LiveApp:
    """The app of one vendor source after its first sync, resolution and profiles (webhooks processed by hand)."""

    app: FastAPI
    settings: Settings
    engine: Engine
    context_config: ContextConfig


def live_app(
    tmp_path: Path,
    vtime: VirtualTime,
    *,
    source: dict[str, Any],
    database_url: str,
    base_url: str,
    token: str,
    webhook_secret: str,
) -> LiveApp:
    """An app with `source` in its contextdesk.yaml and the fake's credentials, synced from the fake once."""
    path = tmp_path / "contextdesk.yaml"
    path.write_text(yaml.safe_dump({"sources": [source]}))
    vendor = source["name"]  # the credentials and the fake connections are keyed by the source name
    creds = SourceCredentials(base_url=base_url, token=SecretStr(token), webhook_secrets=[SecretStr(webhook_secret)])
    settings = Settings(
        home=tmp_path / "home",
        config_file=path,
        webhook_worker=False,
        database_url=database_url,
        sources={vendor: creds},
    )
    app = create_app(settings, clock=vtime.now)
    engine, context_config = app.state.engine, load_context_config(path)
    fake_creds: dict[str, tuple[str, str | None]] = {vendor: (base_url, token)}
    conns = connections(vtime, emails=None, **fake_creds)
    sync(engine=engine, config=app.state.live.propagation.intake, clock=vtime.now, connections=conns)
    resolve_pending(engine=engine, rules=default_rules(), now=vtime.now())
    recompute_profiles(engine=engine, config=context_config.profiles, now=vtime.now())
    return LiveApp(app, settings, engine, context_config)
