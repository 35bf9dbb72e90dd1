"""The Intercom connector against the fake API over real HTTP: day-granular search with a day of overlap,
auth failures, conversations in the customer's context, and signed notifications into the customer's profile."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import load_context_config
from context.identity.rules import default_rules
from context.identity.service import resolve_pending
from context.intake.service import load_cursor, sync
from context.live.propagate import process_pending
from context.profiles.service import recompute_profiles
from tests.clock import NOW
from tests.context.connectors.fakes import intercom as fi
from tests.context.connectors.fakes.server import Failure, VirtualTime
from tests.context.connectors.helpers import config, connections, live_app, records
from tests.context.connectors.test_webhooks import post, sqlite_url
from tests.contextdesk.http_helpers import serve_in_thread

INTERCOM = {"name": "intercom", "kind": "intercom"}


def test_a_change_later_on_the_cursors_day_is_found_through_the_overlap(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fi.FakeIntercom() as fake:
        for n in range(1, 6):
            fake.put(fi.contact(n, updated=NOW - timedelta(days=n)))
        cfg = config(tmp_path, {**INTERCOM, "streams": ["contacts"], "options": {"page_size": 2}})
        conns = connections(vtime, intercom=(fake.url, fi.TOKEN))
        [first] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        assert (first.status, first.new) == ("ok", 5)
        assert load_cursor(engine=engine, source="intercom-contacts") == {
            "updated_at": int((NOW - timedelta(days=1)).timestamp())
        }

        # Contact 3 changes one hour after the cursor, on the same day: a day-granular `>` alone would miss it.
        fake.put(fi.contact(3, updated=NOW - timedelta(days=1) + timedelta(hours=1), name="Renamed Three"))
        [second] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        [wrong] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, intercom=(fake.url, "bad"))
        )

    assert (second.new, second.changed) == (0, 1)
    assert records(engine, "intercom-contacts")["6650000003"].full_name == "Renamed Three"
    assert wrong.status == "failed" and "refused the credentials (401)" in (wrong.error or "")


def test_a_429_waits_until_intercoms_rate_limit_reset(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with fi.FakeIntercom() as fake:
        fake.put(fi.contact(1))
        reset = int(NOW.timestamp()) + 7  # Intercom sends the epoch second its window resets
        fake.script(
            Failure(
                status=429,
                path_prefix="/contacts/search",
                headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                body={"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]},
            )
        )
        cfg = config(tmp_path, {**INTERCOM, "streams": ["contacts"]})
        [synced] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, intercom=(fake.url, fi.TOKEN))
        )
    assert (synced.status, synced.new) == ("ok", 1)
    assert vtime.sleeps == [7.0]  # the reset, not the 0.25 s backoff it would otherwise take


def test_a_contacts_conversations_land_in_the_context_and_later_changes_through_the_overlap(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()

    def context() -> Any:
        resolve_pending(engine=engine, rules=default_rules(), now=vtime.now())
        ctx_config = load_context_config(tmp_path / "contextdesk.yaml")
        recompute_profiles(engine=engine, config=ctx_config.profiles, now=vtime.now())
        found = lookup_customer(engine=engine, email="ann@example.com")
        assert found.customer_id
        return build_customer_context(engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config)

    with fi.FakeIntercom() as fake:
        fake.put(fi.contact(1, email="ann@example.com", updated=NOW - timedelta(days=2)))
        fake.put(fi.contact(2, updated=NOW - timedelta(days=2)))
        fake.put(fi.conversation(1, contact_n=1, title="Candle arrived broken", updated=NOW - timedelta(days=1)))
        fake.put(fi.conversation(2, contact_n=2, updated=NOW - timedelta(days=3)))
        fake.put(fi.conversation(3, contact_n=1, state="closed", updated=NOW - timedelta(days=4)))
        cfg = config(tmp_path, {**INTERCOM, "options": {"page_size": 2}})
        conns = connections(vtime, intercom=(fake.url, fi.TOKEN))
        first = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        assert [(s.source, s.status, s.new) for s in first] == [
            ("intercom-contacts", "ok", 2),
            ("intercom-conversations", "ok", 3),
        ]
        before = context()

        # The open conversation is closed an hour after the cursor, on the cursor's own day: a day-granular
        # `updated_at >` the cursor alone would miss it.
        closed = fi.conversation(
            1, contact_n=1, title="Candle arrived broken", state="closed", updated=NOW - timedelta(hours=23)
        )
        fake.put(closed)
        fake.requests.clear()
        second = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        searched = [r.body for r in fake.requests if r.path == "/conversations/search"]

    # Ann's open conversation (not contact 2's) is in her context, linked by the contact id it carries.
    assert [(t.ref, t.subject, t.status, t.channel) for t in before.tickets.open] == [
        ("1901", "Candle arrived broken", "open", "conversation")
    ]
    assert [t.ref for t in before.tickets.recent_resolved] == ["1903"]
    assert [(s.source, s.new, s.changed) for s in second] == [
        ("intercom-contacts", 0, 0),
        ("intercom-conversations", 0, 1),
    ]
    # The second search starts a day before the cursor (conversation 1's first `updated_at`).
    assert searched and all(b["query"]["value"] == int((NOW - timedelta(days=2)).timestamp()) for b in searched)
    after = context()
    assert after.tickets.open == []
    assert [(t.ref, t.status) for t in after.tickets.recent_resolved] == [("1901", "closed"), ("1903", "closed")]


def test_a_signed_intercom_notification_updates_the_contact(tmp_path: Path, sqlite_template: Path) -> None:
    vtime = VirtualTime()
    with fi.FakeIntercom() as fake:
        fake.put(fi.contact(1, email="ann@example.com"))
        live = live_app(
            tmp_path,
            vtime,
            source=INTERCOM,
            database_url=sqlite_url(tmp_path, sqlite_template),
            base_url=fake.url,
            token=fi.TOKEN,
            webhook_secret=fi.CLIENT_SECRET,
        )
        app, settings, engine = live.app, live.settings, live.engine
        with serve_in_thread(app, settings) as base:
            fake.put(fi.contact(1, email="ann.new@example.com"))
            accepted = post(base, "intercom", fake.webhook("contact.user.updated", "6650000001"))
            forged = post(
                base, "intercom", fake.webhook("contact.user.updated", "6650000001", secret="guess-0123456789")
            )
            summary = process_pending(deps=app.state.live.propagation)
        found = lookup_customer(engine=engine, email="ann.new@example.com")

    assert (accepted.status_code, forged.status_code) == (200, 401)
    assert summary.refetched == 1 and found.customer_id is not None


def test_signed_conversation_notifications_change_the_customers_tickets(tmp_path: Path, sqlite_template: Path) -> None:
    vtime = VirtualTime()
    with fi.FakeIntercom() as fake:
        fake.put(fi.contact(1, email="ann@example.com", updated=NOW - timedelta(days=2)))
        fake.put(fi.conversation(1, contact_n=1, title="Candle arrived broken", updated=NOW - timedelta(days=1)))
        fake.put(fi.conversation(2, contact_n=1, title="Wrong colour", updated=NOW - timedelta(days=1)))
        live = live_app(
            tmp_path,
            vtime,
            source=INTERCOM,
            database_url=sqlite_url(tmp_path, sqlite_template),
            base_url=fake.url,
            token=fi.TOKEN,
            webhook_secret=fi.CLIENT_SECRET,
        )
        app, settings, engine, ctx_config = live.app, live.settings, live.engine, live.context_config

        def tickets() -> tuple[list[tuple[str | None, str | None]], list[tuple[str | None, str | None]]]:
            found = lookup_customer(engine=engine, email="ann@example.com")
            assert found.customer_id
            ctx = build_customer_context(
                engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config
            )
            return (
                sorted((t.ref, t.status) for t in ctx.tickets.open),
                sorted((t.ref, t.status) for t in ctx.tickets.recent_resolved),
            )

        before = tickets()
        with serve_in_thread(app, settings) as base:
            # An admin closes conversation 1; conversation 2 is deleted; a new one is started.
            fake.put(fi.conversation(1, contact_n=1, title="Candle arrived broken", state="closed"))
            fake.conversations.pop("1902")
            fake.put(fi.conversation(3, contact_n=1, title="Where is my refund?"))
            closed = post(base, "intercom", fake.webhook("conversation.admin.closed", "1901"))
            deleted = post(base, "intercom", fake.webhook("conversation.deleted", "1902"))
            started = post(base, "intercom", fake.webhook("conversation.user.created", "1903"))
            forged = post(
                base, "intercom", fake.webhook("conversation.admin.opened", "1901", secret="guess-0123456789")
            )
            summary = process_pending(deps=app.state.live.propagation)
        fetched = sorted(r.path for r in fake.requests if r.method == "GET")
        after = tickets()

    assert before == ([("1901", "open"), ("1902", "open")], [])
    assert (closed.status_code, deleted.status_code, started.status_code, forged.status_code) == (200, 200, 200, 401)
    assert (summary.refetched, summary.applied, summary.failed) == (2, 1, 0)  # re-fetched twice, one tombstone
    assert fetched == ["/conversations/1901", "/conversations/1903"]
    assert after == ([("1903", "open")], [("1901", "closed")])
