"""Webhooks through the served app: signatures, the inbox, async processing into the customer's context.

The app is served on loopback (uvicorn, as `contextdesk serve` configures it); vendors are the fakes. The
inbox worker is off so each test runs a processing pass itself (`process_pending`, what the worker runs).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import load_context_config
from context.customer_context.models import CustomerContext
from context.identity.rules import load_rules
from context.identity.service import resolve_pending
from context.intake.config import load_intake_config
from context.intake.connectors import SourceCredentials
from context.intake.models import RejectedWebhook, WebhookEvent
from context.intake.service import sync
from context.live.propagate import process_pending, propagate_writes
from context.profiles.service import recompute_profiles
from contextdesk.app import create_app
from contextdesk.db import make_engine
from contextdesk.settings import Settings
from tests.context.connectors.fakes import shopify as fs
from tests.context.connectors.fakes import stripe as fst
from tests.context.connectors.fakes.server import VirtualTime
from tests.context.connectors.helpers import connections
from tests.context.identity.factories import Person, add_records
from tests.contextdesk.http_helpers import serve_in_thread

OLD_SECRET = "previous-shopify-secret-987654321"


def write_yaml(folder: Path) -> Path:
    path = folder / "contextdesk.yaml"
    path.write_text(
        yaml.safe_dump({"sources": [{"name": "shopify", "kind": "shopify"}, {"name": "stripe", "kind": "stripe"}]})
    )
    return path


def settings_for(tmp: Path, config: Path, shop: str, stripe: str) -> Settings:
    return Settings(
        home=tmp / "home",
        config_file=config,
        webhook_worker=False,
        sources={
            "shopify": SourceCredentials(
                base_url=shop,
                token=SecretStr(fs.TOKEN),
                webhook_secrets=[SecretStr(fs.WEBHOOK_SECRET), SecretStr(OLD_SECRET)],
            ),
            "stripe": SourceCredentials(
                base_url=stripe, token=SecretStr(fst.TOKEN), webhook_secrets=[SecretStr(fst.WEBHOOK_SECRET)]
            ),
        },
    )


def full_sync(engine: Engine, config: Path, vtime: VirtualTime, shop: str, stripe: str) -> None:
    """`contextdesk sync` as the CLI runs it: intake, identity, profiles."""
    cfg = load_intake_config(config)
    conns = connections(vtime, shopify=(shop, fs.TOKEN), stripe=(stripe, fst.TOKEN))
    assert all(s.status == "ok" for s in sync(engine=engine, config=cfg, clock=vtime.now, connections=conns))
    resolve_pending(engine=engine, rules=load_rules(config), now=vtime.now())
    recompute_profiles(engine=engine, config=load_context_config(config).profiles, now=vtime.now())


def context_of(engine: Engine, config: Path, email: str, vtime: VirtualTime) -> CustomerContext:
    found = lookup_customer(engine=engine, email=email)
    assert found.customer_id, f"no customer for {email}"
    return build_customer_context(
        engine=engine, customer_id=found.customer_id, now=vtime.now(), config=load_context_config(config)
    )


@contextmanager
def world(tmp_path: Path, engine_url: str) -> Iterator[dict[str, Any]]:
    vtime = VirtualTime()
    config = write_yaml(tmp_path)
    with fs.FakeShopify() as shop, fst.FakeStripe(clock=vtime.now) as stripe:
        settings = settings_for(tmp_path, config, shop.url, stripe.url).model_copy(update={"database_url": engine_url})
        app = create_app(settings, clock=vtime.now)
        with serve_in_thread(app, settings) as base:
            yield {
                "vtime": vtime,
                "config": config,
                "shop": shop,
                "stripe": stripe,
                "app": app,
                "base": base,
                "engine": app.state.engine,
            }


def sqlite_url(tmp_path: Path, sqlite_template: Path, name: str = "contextdesk.db") -> str:
    path = tmp_path / name
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def post(base: str, source: str, delivery: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = delivery
    return httpx.post(f"{base}/v1/webhooks/{source}", content=body, headers=headers, timeout=10)


def test_a_signed_shopify_webhook_changes_the_order_in_the_context(tmp_path: Path, sqlite_template: Path) -> None:
    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        shop, vtime, engine = w["shop"], w["vtime"], w["engine"]
        shop.put("customers", fs.customer(1))
        shop.put("orders", fs.order(1, customer_n=1, updated=fs.NOW - timedelta(days=1)))
        full_sync(engine, w["config"], vtime, shop.url, w["stripe"].url)
        before = context_of(engine, w["config"], "customer1@example.com", vtime)
        assert before.orders.recent[0].fulfillment_status == "unfulfilled"

        shipped = fs.order(1, customer_n=1, tracking=["1Z42"], shipment="IN_TRANSIT")
        shop.put("orders", shipped)
        answer = post(w["base"], "shopify", shop.webhook("orders/updated", fs.rest_order(shipped)))
        assert answer.status_code == 200 and answer.json() == {"received": True, "duplicate": False}
        summary = process_pending(deps=w["app"].state.live.propagation)
        assert summary.refetched == 1  # Shopify's REST payload is thin for the GraphQL mapping: re-fetched

        after = context_of(engine, w["config"], "customer1@example.com", vtime)
        order = after.orders.recent[0]
        assert (order.fulfillment_status, order.tracking_numbers) == ("in_transit", ["1Z42"])

        # Signed with the previous secret (a rotation in progress): still accepted.
        old = post(w["base"], "shopify", shop.webhook("orders/updated", fs.rest_order(shipped), secret=OLD_SECRET))
        assert old.status_code == 200


def test_forged_and_replayed_webhooks_are_rejected_and_logged(
    tmp_path: Path, sqlite_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="context.intake.webhooks")
    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        shop, stripe, vtime, engine = w["shop"], w["stripe"], w["vtime"], w["engine"]
        forged = post(w["base"], "shopify", shop.webhook("orders/updated", {"id": 1}, secret="attacker-guess-123456"))
        event = stripe.put("customers", fst.customer(1))
        replayed = post(w["base"], "stripe", stripe.webhook(event, at=vtime.now() - timedelta(minutes=10)))
        body, headers = stripe.webhook(event)
        tampered = post(w["base"], "stripe", (body.replace(b"customer1@", b"mallory@"), headers))
        unknown = post(w["base"], "nosuch", shop.webhook("orders/updated", {"id": 1}))
        with engine.connect() as conn:
            reasons = conn.execute(select(RejectedWebhook.__table__.c.reason)).scalars().all()
            inbox = conn.execute(select(func.count()).select_from(WebhookEvent.__table__)).scalar()

    assert (forged.status_code, replayed.status_code, tampered.status_code) == (401, 401, 401)
    assert unknown.status_code == 404
    assert forged.json()["detail"] == "webhook signature did not verify"  # no hint for the sender
    assert sorted(reasons) == sorted(
        [
            "signature does not match (X-Shopify-Hmac-Sha256)",
            "timestamp outside the 300 s tolerance (replayed or clock skew)",
            "signature does not match (Stripe-Signature v1)",
        ]
    )
    assert inbox == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "context.intake.webhooks"]
    assert sorted(logged) == sorted(
        f"webhook for {source} refused: {reason}"
        for source, reason in (
            ("shopify", "signature does not match (X-Shopify-Hmac-Sha256)"),
            ("stripe", "timestamp outside the 300 s tolerance (replayed or clock skew)"),
            ("stripe", "signature does not match (Stripe-Signature v1)"),
        )
    )
    assert not any("mallory" in m or "customer1@" in m for m in logged)  # never the body


def _subscription_state(engine: Engine, config: Path, vtime: VirtualTime) -> list[tuple[str | None, str | None]]:
    ctx = context_of(engine, config, "customer1@example.com", vtime)
    return sorted((s.ref, s.status) for s in ctx.subscriptions.items)


def test_duplicate_and_out_of_order_deliveries_converge_on_a_clean_sync(tmp_path: Path, sqlite_template: Path) -> None:
    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        stripe, vtime, engine, config = w["stripe"], w["vtime"], w["engine"], w["config"]
        stripe.put("customers", fst.customer(1))
        stripe.put("subscriptions", fst.subscription(1, customer_n=1, status="trialing"))
        full_sync(engine, config, vtime, w["shop"].url, stripe.url)

        events = []
        for status in ("active", "past_due", "canceled"):
            vtime.advance(60)
            events.append(stripe.put("subscriptions", {**fst.subscription(1, customer_n=1), "status": status}))
        vtime.advance(5)
        # Newest first, the oldest twice, the middle one last.
        for event in (events[2], events[0], events[0], events[1]):
            answer = post(w["base"], "stripe", stripe.webhook(event))
            assert answer.status_code == 200
        duplicates = post(w["base"], "stripe", stripe.webhook(events[2])).json()["duplicate"]
        process_pending(deps=w["app"].state.live.propagation)
        via_webhooks = _subscription_state(engine, config, vtime)
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(select(WebhookEvent.__table__.c.event_id, WebhookEvent.__table__.c.status)).all()
            )

        clean = make_engine(sqlite_url(tmp_path, sqlite_template, "clean.db"))
        full_sync(clean, config, vtime, w["shop"].url, stripe.url)
        via_sync = _subscription_state(clean, config, vtime)
        clean.dispose()

    assert duplicates is True
    assert via_webhooks == via_sync == [("sub_000001", "canceled")]
    # The first delivery was the newest; the older ones arrived after it and were re-fetched, not applied.
    assert statuses[events[2]["id"]] == "applied"
    assert statuses[events[0]["id"]] == statuses[events[1]["id"]] == "refetched"


def test_the_first_pass_heals_a_profile_a_crash_left_missing(tmp_path: Path, sqlite_template: Path) -> None:
    from sqlalchemy import delete

    from context.canonical.models import Customer
    from context.profiles.models import CustomerProfile

    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        shop, vtime, engine = w["shop"], w["vtime"], w["engine"]
        for n in (1, 2):
            shop.put("orders", fs.order(n, customer_n=n, updated=fs.NOW - timedelta(days=1)))
        full_sync(engine, w["config"], vtime, shop.url, w["stripe"].url)
        profiles, customers = CustomerProfile.__table__, Customer.__table__

        def profiled() -> set[str]:
            with engine.connect() as conn:
                return set(conn.execute(select(profiles.c.customer_id)).scalars())

        with engine.begin() as conn:
            everyone = set(conn.execute(select(customers.c.id)).scalars())
            # A crash between resolution and recompute: customer 2's profile was never written.
            lost = lookup_customer(engine=engine, email="customer2@example.com").customer_id
            conn.execute(delete(profiles).where(profiles.c.customer_id == lost))
        assert len(everyone) == 2 and profiled() == everyone - {lost}

        shipped = fs.order(1, customer_n=1, tracking=["1Z7"], shipment="IN_TRANSIT")
        shop.put("orders", shipped)
        assert post(w["base"], "shopify", shop.webhook("orders/updated", fs.rest_order(shipped))).status_code == 200
        summary = process_pending(deps=w["app"].state.live.propagation)

        assert summary.refetched == 1 and lost in summary.customers
        assert profiled() == everyone


def test_webhooks_that_create_or_empty_customers_leave_one_profile_per_customer(
    tmp_path: Path, sqlite_template: Path
) -> None:
    from context.canonical.models import Customer
    from context.profiles.models import CustomerProfile

    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        shop, vtime, engine = w["shop"], w["vtime"], w["engine"]
        deps = w["app"].state.live.propagation
        for n in (1, 2):
            shop.put("orders", fs.order(n, customer_n=n, updated=fs.NOW - timedelta(days=1)))
        full_sync(engine, w["config"], vtime, shop.url, w["stripe"].url)

        def state() -> tuple[set[str], set[str]]:
            with engine.connect() as conn:
                return (
                    set(conn.execute(select(Customer.__table__.c.id)).scalars()),
                    set(conn.execute(select(CustomerProfile.__table__.c.customer_id)).scalars()),
                )

        def deliver(node: dict[str, Any], topic: str = "orders/updated") -> set[str]:
            vtime.advance(60)
            shop.put("orders", node)
            assert post(w["base"], "shopify", shop.webhook(topic, fs.rest_order(node))).status_code == 200
            return process_pending(deps=deps).customers

        deliver(fs.order(1, customer_n=1, tracking=["1Z1"], shipment="IN_TRANSIT"))  # the process's first pass
        # A new customer's first order: a customer and a profile appear.
        touched = deliver(fs.order(3, customer_n=3), "orders/create")
        newcomer = lookup_customer(engine=engine, email="customer3@example.com").customer_id
        customers, profiled = state()
        assert newcomer in customers and newcomer in touched and profiled == customers and len(customers) == 3
        # Customer 2's only order was reassigned to customer 1 at the store: the two are one customer now, and
        # the one that went away took its profile with it.
        pair = {lookup_customer(engine=engine, email=f"customer{n}@example.com").customer_id for n in (1, 2)}
        deliver(fs.order(2, customer_n=1))
        customers, profiled = state()
        assert len(pair & customers) == 1 and profiled == customers and len(customers) == 2


def test_a_record_that_joins_two_customers_leaves_one_profile_per_customer(
    tmp_path: Path, sqlite_template: Path
) -> None:
    from context.canonical.models import Customer, CustomerRecord
    from context.profiles.models import CustomerProfile

    with world(tmp_path, sqlite_url(tmp_path, sqlite_template)) as w:
        engine, vtime = w["engine"], w["vtime"]
        deps = w["app"].state.live.propagation
        add_records(
            engine,
            [
                Person("crm", "a", "Ann", "Lee", email="ann.lee@mail.test", postcode="10001"),
                Person("crm", "b", "Ann", "Lee", phone="+14155550100", postcode="94110"),
            ],
        )
        full_sync(engine, w["config"], vtime, w["shop"].url, w["stripe"].url)

        def state() -> tuple[set[str], set[str]]:
            with engine.connect() as conn:
                return (
                    set(conn.execute(select(Customer.__table__.c.id)).scalars()),
                    set(conn.execute(select(CustomerProfile.__table__.c.customer_id)).scalars()),
                )

        before, profiled = state()
        assert len(before) == 2 and profiled == before
        propagate_writes(deps=deps, record_ids=[], previous_customers=before)  # the process's first pass
        # A new record holds Ann's email and her phone: her two customers become one.
        vtime.advance(60)
        add_records(engine, [Person("crm", "c", "Ann", "Lee", email="ann.lee@mail.test", phone="+14155550100")])
        with engine.connect() as conn:
            bridge = conn.execute(
                select(CustomerRecord.__table__.c.id).where(CustomerRecord.__table__.c.source_record_id == "c")
            ).scalar_one()
        touched = propagate_writes(deps=deps, record_ids=[bridge], previous_customers=set())

        after, profiled = state()
        assert len(after) == 1 and after < before and profiled == after
        assert before <= touched  # the merged-away customer's cached answers are dropped too
