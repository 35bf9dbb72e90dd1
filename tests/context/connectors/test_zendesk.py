"""The Zendesk connector against the fake API over real HTTP: incremental cursor export, tombstones, 429s,
auth failures, and signed event webhooks into the customer's tickets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.canonical.models import Ticket
from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import load_context_config
from context.errors import WebhookRejected
from context.identity.rules import default_rules
from context.identity.service import resolve_pending
from context.intake.connectors import SourceCredentials
from context.intake.service import load_cursor, sync
from context.intake.webhooks import verify_zendesk
from context.live.propagate import process_pending
from context.profiles.service import recompute_profiles
from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.clock import NOW
from tests.context.connectors.fakes import zendesk as fz
from tests.context.connectors.fakes.server import Failure, VirtualTime
from tests.context.connectors.helpers import config, connections, records
from tests.context.connectors.test_webhooks import post, sqlite_url
from tests.contextdesk.http_helpers import serve_in_thread

ZENDESK = {"name": "zendesk", "kind": "zendesk"}


def tickets(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {r.source_record_id: r.status for r in conn.execute(select(Ticket.__table__))}


def test_the_export_is_followed_to_end_of_stream_then_resumed_from_its_cursor(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fz.FakeZendesk() as fake:
        for n in range(1, 6):
            fake.put("users", fz.user(n, updated=NOW - timedelta(hours=n)))
        fake.put("tickets", fz.ticket(1, requester_n=1, updated=NOW - timedelta(hours=3)))
        fake.put("tickets", fz.ticket(2, requester_n=2, status="solved", updated=NOW - timedelta(hours=2)))
        fake.put("tickets", fz.ticket(3, requester_n=2, updated=NOW - timedelta(hours=1)))
        cfg = config(tmp_path, {**ZENDESK, "options": {"page_size": 2}})
        conns = connections(vtime, zendesk=(fake.url, fz.TOKEN), emails={"zendesk": fz.EMAIL})
        fake.script(Failure(status=429, headers={"Retry-After": "7"}, path_prefix="/api/v2/incremental/tickets"))
        first = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        pages = [r for r in fake.requests if r.path == "/api/v2/incremental/users/cursor.json"]
        assert [(s.source, s.status, s.new) for s in first] == [
            ("zendesk-users", "ok", 5),
            ("zendesk-tickets", "ok", 3),
        ]
        assert [p.query.get("start_time") for p in pages] == [["0"], None, None]  # then the cursor, to the end
        assert 7.0 in vtime.sleeps  # Retry-After obeyed
        assert tickets(engine) == {"1": "open", "2": "solved", "3": "open"}
        cursor = load_cursor(engine=engine, source="zendesk-tickets")
        assert cursor and cursor["cursor"]

        # Later: ticket 1 is solved, ticket 3 deleted; the next sync asks from the saved cursor only.
        fake.requests.clear()
        fake.put("tickets", {**fz.ticket(1, requester_n=1), "status": "solved"})
        fake.put("tickets", {**fz.ticket(3, requester_n=2), "status": "deleted", "updated_at": "2026-11-02T15:00:01Z"})
        second = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        asked = [r.query for r in fake.requests if r.path == "/api/v2/incremental/tickets/cursor.json"]

    assert [(s.source, s.new, s.changed, s.deleted) for s in second] == [
        ("zendesk-users", 0, 0, 0),
        ("zendesk-tickets", 0, 1, 1),
    ]
    assert all("cursor" in q and "start_time" not in q for q in asked)
    assert tickets(engine) == {"1": "solved", "2": "solved"}
    assert "3" not in records(engine, "zendesk-tickets")


def test_a_customers_tickets_land_in_the_context_through_the_requester_id(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fz.FakeZendesk() as fake:
        fake.put("users", fz.user(1, email="ann@example.com"))
        fake.put("tickets", fz.ticket(11, requester_n=1, subject="Candle arrived broken"))
        cfg = config(tmp_path, ZENDESK)
        conns = connections(vtime, zendesk=(fake.url, fz.TOKEN), emails={"zendesk": fz.EMAIL})
        assert all(s.status == "ok" for s in sync(engine=engine, config=cfg, clock=vtime.now, connections=conns))
    resolve_pending(engine=engine, rules=default_rules(), now=vtime.now())
    ctx_config = load_context_config(tmp_path / "contextdesk.yaml")
    recompute_profiles(engine=engine, config=ctx_config.profiles, now=vtime.now())
    found = lookup_customer(engine=engine, email="ann@example.com")
    assert found.customer_id
    ctx = build_customer_context(engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config)
    assert [(t.ref, t.subject, t.status, t.channel) for t in ctx.tickets.open] == [
        ("11", "Candle arrived broken", "open", "email")
    ]


def test_refused_or_missing_credentials_name_the_fix(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fz.FakeZendesk() as fake:
        cfg = config(tmp_path, {**ZENDESK, "streams": ["users"]})
        [wrong] = sync(
            engine=engine,
            config=cfg,
            clock=vtime.now,
            connections=connections(vtime, zendesk=(fake.url, "wrong"), emails={"zendesk": fz.EMAIL}),
        )
        [no_email] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, zendesk=(fake.url, fz.TOKEN))
        )
    assert wrong.status == "failed" and "refused the credentials (401)" in (wrong.error or "")
    assert "agent email and API token" in (wrong.error or "")
    assert no_email.status == "failed" and "no agent email" in (no_email.error or "")


def test_zendesk_signatures_verify_on_timestamp_and_body_within_five_minutes() -> None:
    fake = fz.FakeZendesk()
    keys = [SecretStr("new-zendesk-secret-000000000"), SecretStr(fz.WEBHOOK_SECRET)]
    body, headers = fake.webhook("ticket.status_changed", 11)
    lowered = {k.lower(): v for k, v in headers.items()}
    delivery = verify_zendesk("zendesk", body, lowered, keys, NOW + timedelta(seconds=30))
    assert (delivery.topic, delivery.object_id) == ("zen:event-type:ticket.status_changed", "11")
    with pytest.raises(WebhookRejected, match="outside the 5-minute window"):
        verify_zendesk("zendesk", body, lowered, keys, NOW + timedelta(minutes=6))
    with pytest.raises(WebhookRejected, match="signature does not match"):
        verify_zendesk("zendesk", body.replace(b"11", b"12"), lowered, keys, NOW)
    fake.server.server_close()


def test_a_signed_zendesk_event_updates_the_ticket_in_the_context(tmp_path: Path, sqlite_template: Path) -> None:
    vtime = VirtualTime()
    path = tmp_path / "contextdesk.yaml"
    path.write_text(yaml.safe_dump({"sources": [ZENDESK]}))
    with fz.FakeZendesk() as fake:
        fake.put("users", fz.user(1, email="ann@example.com"))
        fake.put("tickets", fz.ticket(11, requester_n=1))
        settings = Settings(
            home=tmp_path / "home",
            config_file=path,
            webhook_worker=False,
            database_url=sqlite_url(tmp_path, sqlite_template),
            sources={
                "zendesk": SourceCredentials(
                    base_url=fake.url,
                    token=SecretStr(fz.TOKEN),
                    email=fz.EMAIL,
                    webhook_secrets=[SecretStr(fz.WEBHOOK_SECRET)],
                )
            },
        )
        app = create_app(settings, clock=vtime.now)
        engine, ctx_config = app.state.engine, load_context_config(path)
        conns = connections(vtime, zendesk=(fake.url, fz.TOKEN), emails={"zendesk": fz.EMAIL})
        sync(engine=engine, config=app.state.live.propagation.intake, clock=vtime.now, connections=conns)
        resolve_pending(engine=engine, rules=default_rules(), now=vtime.now())
        recompute_profiles(engine=engine, config=ctx_config.profiles, now=vtime.now())
        with serve_in_thread(app, settings) as base:
            fake.put("tickets", {**fz.ticket(11, requester_n=1), "status": "solved"})
            accepted = post(base, "zendesk", fake.webhook("ticket.status_changed", 11, at=vtime.now()))
            stale = post(
                base, "zendesk", fake.webhook("ticket.status_changed", 11, at=vtime.now() - timedelta(hours=1))
            )
            summary = process_pending(deps=app.state.live.propagation)
        found = lookup_customer(engine=engine, email="ann@example.com")
        assert found.customer_id
        ctx = build_customer_context(engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config)

    assert accepted.status_code == 200 and stale.status_code == 401
    assert summary.refetched == 1
    assert ctx.tickets.open == [] and [t.status for t in ctx.tickets.recent_resolved] == ["solved"]
