"""Scheduled syncs: per-source locks, due intervals, run history, freshness in the health and the context's gaps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import parse_context_config
from context.identity.rules import default_rules
from context.intake.connectors import SourceCredentials
from context.live.propagate import PropagationDeps
from context.live.scheduler import acquire_lock, release_lock, run_due, source_health, sync_history
from context.profiles.config import ProfilesConfig
from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.context.connectors.fakes import stripe as fst
from tests.context.connectors.fakes.server import VirtualTime
from tests.context.connectors.helpers import config, connections
from tests.context.connectors.test_webhooks import sqlite_url
from tests.contextdesk.http_helpers import API_KEY, serve_in_thread

ENTRY = {"name": "stripe", "kind": "stripe", "streams": ["customers", "subscriptions"], "interval": "1h"}


def test_a_held_lock_keeps_a_second_worker_out_until_it_expires(engine: Engine) -> None:
    vtime = VirtualTime()
    assert acquire_lock(engine=engine, source="stripe-customers", holder="a", now=vtime.now())
    assert not acquire_lock(engine=engine, source="stripe-customers", holder="b", now=vtime.now())
    release_lock(engine=engine, source="stripe-customers", holder="b")  # not b's to release
    assert not acquire_lock(engine=engine, source="stripe-customers", holder="b", now=vtime.now())
    # A holder that died stops extending its lock; after the TTL another worker takes over.
    assert acquire_lock(engine=engine, source="stripe-customers", holder="b", now=vtime.now() + timedelta(hours=1))
    release_lock(engine=engine, source="stripe-customers", holder="b")
    assert acquire_lock(engine=engine, source="stripe-customers", holder="c", now=vtime.now() + timedelta(hours=1))


def test_the_worker_syncs_due_sources_skips_locked_ones_and_reports_freshness(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fst.FakeStripe(clock=vtime.now) as fake:
        fake.put("customers", fst.customer(1))
        fake.put("subscriptions", fst.subscription(1, customer_n=1))
        cfg = config(tmp_path, ENTRY)
        deps = PropagationDeps(
            engine=engine,
            intake=cfg,
            profiles=ProfilesConfig(),
            rules=default_rules(),
            connections=connections(vtime, stripe=(fake.url, fst.TOKEN)),
            clock=vtime.now,
        )
        # Another worker holds the subscriptions stream: this one syncs only the customers.
        assert acquire_lock(engine=engine, source="stripe-subscriptions", holder="other", now=vtime.now())
        first = run_due(deps=deps, holder="me")
        assert [s.source for s in first.synced] == ["stripe-customers"]
        assert first.skipped_locked == ["stripe-subscriptions"]
        release_lock(engine=engine, source="stripe-subscriptions", holder="other")
        second = run_due(deps=deps, holder="me")
        assert [s.source for s in second.synced] == ["stripe-subscriptions"]  # customers are not due for an hour
        vtime.advance(3601)
        third = run_due(deps=deps, holder="me")
        assert [s.source for s in third.synced] == ["stripe-customers", "stripe-subscriptions"]

    history = sync_history(engine=engine, source="stripe")
    assert [r.source for r in history] == [
        "stripe-subscriptions",
        "stripe-customers",
        "stripe-subscriptions",
        "stripe-customers",
    ]
    # Three days without a sync: overdue in the health, and a known gap in the customer's context.
    later = vtime.now() + timedelta(days=3)
    health = {h.source: h for h in source_health(engine=engine, sources=cfg.sources, now=later)}
    assert health["stripe-customers"].overdue and health["stripe-customers"].last_status == "ok"
    ctx_config = parse_context_config({"sources": [ENTRY]})
    assert ctx_config.billing_sources == ["stripe-subscriptions"]
    found = lookup_customer(engine=engine, email="customer1@example.com")
    assert found.customer_id
    ctx = build_customer_context(engine=engine, customer_id=found.customer_id, now=later, config=ctx_config)
    assert any(g.startswith("billing last synced 3 days ago (stripe-subscriptions") for g in ctx.gaps), ctx.gaps


def test_the_health_endpoint_shows_each_sources_freshness_behind_the_api_key(
    tmp_path: Path, sqlite_template: Path
) -> None:
    vtime = VirtualTime()
    path = tmp_path / "contextdesk.yaml"
    path.write_text(yaml.safe_dump({"sources": [ENTRY]}))
    with fst.FakeStripe(clock=vtime.now) as fake:
        fake.put("customers", fst.customer(1))
        settings = Settings(
            home=tmp_path / "home",
            config_file=path,
            database_url=sqlite_url(tmp_path, sqlite_template),
            api_key=API_KEY,
            webhook_worker=False,
            handoff_worker=False,
            sources={"stripe": SourceCredentials(base_url=fake.url, token=SecretStr(fst.TOKEN))},
        )
        app = create_app(settings, clock=vtime.now)
        with serve_in_thread(app, settings) as base:
            ran = run_due(deps=app.state.live.propagation, holder="me")
            fresh = httpx.get(f"{base}/v1/health/sources", headers={"X-API-Key": API_KEY}, timeout=10)
            vtime.advance(3 * 86_400)
            stale = httpx.get(f"{base}/v1/health/sources", headers={"X-API-Key": API_KEY}, timeout=10)
            anonymous = httpx.get(f"{base}/v1/health/sources", timeout=10)

    assert [s.status for s in ran.synced] == ["ok", "ok"]
    assert fresh.status_code == 200 and fresh.json()["ok"] is True
    rows = {r["source"]: r for r in fresh.json()["sources"]}
    assert sorted(rows) == ["stripe-customers", "stripe-subscriptions"]
    assert all(r["last_status"] == "ok" and r["last_success"] and not r["overdue"] for r in rows.values())
    # Three days without a sync (the interval is an hour): overdue, and the whole health says so.
    assert stale.json()["ok"] is False and all(r["overdue"] for r in stale.json()["sources"])
    assert anonymous.status_code == 401
