"""The Stripe connector against the fake API over real HTTP: full list, events, tombstones, 30-day window, 429s."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from context.canonical.models import Subscription
from context.intake.models import RawRecord
from context.intake.service import load_cursor, sync
from tests.context.connectors.fakes.server import Failure, VirtualTime
from tests.context.connectors.fakes.stripe import TOKEN, FakeStripe, customer, subscription
from tests.context.connectors.helpers import config, connections, records

STRIPE = {"name": "stripe", "kind": "stripe"}


def subscriptions(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {r.source_record_id: r.status for r in conn.execute(select(Subscription.__table__))}


def test_first_sync_lists_everything_then_events_bring_changes_and_deletes(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with FakeStripe(clock=vtime.now) as fake:
        for n in range(1, 6):
            fake.put("customers", customer(n))
        fake.put("subscriptions", subscription(1, customer_n=1))
        fake.put("subscriptions", subscription(2, customer_n=2, status="canceled"))
        cfg = config(tmp_path, {**STRIPE, "streams": ["customers", "subscriptions"], "options": {"page_size": 2}})
        conns = connections(vtime, stripe=(fake.url, TOKEN))
        first = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        assert [(s.source, s.new) for s in first] == [("stripe-customers", 5), ("stripe-subscriptions", 2)]
        # status=all: the canceled subscription is there too.
        assert subscriptions(engine) == {"sub_000001": "active", "sub_000002": "canceled"}
        assert load_cursor(engine=engine, source="stripe-customers")["phase"] == "events"

        vtime.advance(3600)
        fake.put("subscriptions", {**subscription(1, customer_n=1), "status": "past_due"})
        fake.put("customers", customer(6))
        fake.delete("customers", "cus_000003")
        second = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        event_calls = [
            r for r in fake.requests if r.path == "/v1/events" and any(k.startswith("types[") for k in r.query)
        ]

    assert [(s.source, s.new, s.changed, s.deleted) for s in second] == [
        ("stripe-customers", 1, 0, 1),
        ("stripe-subscriptions", 0, 1, 0),
    ]
    assert subscriptions(engine)["sub_000001"] == "past_due"
    got = records(engine, "stripe-customers")
    assert "cus_000003" not in got and "cus_000006" in got
    # The tombstone is a new raw version; the earlier version stays in the raw history.
    with engine.connect() as conn:
        raw = conn.execute(
            select(RawRecord.__table__.c.version, RawRecord.__table__.c.deleted).where(
                RawRecord.__table__.c.source_record_id == "cus_000003"
            )
        ).all()
    assert sorted(raw) == [(1, False), (2, True)]
    assert event_calls, "the second sync read /v1/events, not the full lists"


def test_a_cursor_older_than_the_event_retention_lists_everything_again(engine: Engine, tmp_path: Path) -> None:
    vtime = VirtualTime()
    with FakeStripe(clock=vtime.now) as fake:
        fake.put("customers", customer(1))
        cfg = config(tmp_path, {**STRIPE, "streams": ["customers"]})
        conns = connections(vtime, stripe=(fake.url, TOKEN))
        sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        vtime.advance(timedelta(days=31).total_seconds())
        fake.put("customers", {**customer(1), "name": "Renamed Person"})
        before = len(fake.requests)
        [summary] = sync(engine=engine, config=cfg, clock=vtime.now, connections=conns)
        paths = [r.path for r in fake.requests[before:]]

    assert "/v1/customers" in paths  # a full re-list, not events
    assert summary.changed == 1
    assert records(engine, "stripe-customers")["cus_000001"].full_name == "Renamed Person"


def test_429_without_retry_after_backs_off_with_jitter_and_a_bad_key_is_reported(
    engine: Engine, tmp_path: Path
) -> None:
    vtime = VirtualTime()
    with FakeStripe(clock=vtime.now) as fake:
        fake.put("customers", customer(1))
        fake.script(Failure(status=429, body={"error": {"message": "Too many requests"}}), Failure(status=429))
        cfg = config(tmp_path, {**STRIPE, "streams": ["customers"]})
        [ok] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, stripe=(fake.url, TOKEN))
        )
        [bad] = sync(
            engine=engine, config=cfg, clock=vtime.now, connections=connections(vtime, stripe=(fake.url, "rk_wrong"))
        )

    assert ok.status == "ok" and ok.new == 1
    # Backoff 0.5 s then 1 s, times the (injected) jitter of 0.5.
    assert vtime.sleeps[:2] == [0.25, 0.5]
    assert bad.status == "failed" and "refused the credentials (401)" in (bad.error or "")
