"""Chat turns over real HTTP to the served app, with the fake Shopify behind it: live lookups and webhooks.

A verified customer asks "where is my order?" (the grounded responder answers from the context, no LLM). With
`live: [fulfillment]` the answer is the fake store's current state even before any sync or webhook saw it; with
the store down it is the stored state, with its as-of time and the failed lookup as a known gap; after repeated
failures the circuit opens and the store is not asked at all until the cooldown has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from context.customer_context import build_customer_context, lookup_customer
from context.customer_context.config import load_context_config
from context.errors import ConfigError
from context.identity.rules import load_rules
from context.identity.service import resolve_pending
from context.intake.config import load_intake_config
from context.intake.models import RejectedWebhook
from context.intake.service import sync
from context.live.lookup import LiveLookups, live_connections
from context.live.propagate import process_pending
from context.profiles.service import recompute_profiles
from contextdesk.app import create_app
from contextdesk.db import make_engine
from tests.agent.chat.helpers import SECRET, signed
from tests.context.connectors.fakes import shopify as fs
from tests.context.connectors.fakes import stripe as fst
from tests.context.connectors.fakes.server import VirtualTime
from tests.context.connectors.helpers import config, connections
from tests.context.connectors.test_webhooks import full_sync, post, settings_for, sqlite_url
from tests.contextdesk.http_helpers import serve_in_thread

EMAIL = "customer1@example.com"


@contextmanager
def served(tmp_path: Path, sqlite_template: Path, *, live: bool, timeout_s: float = 5.0) -> Iterator[dict[str, Any]]:
    # A generous deadline by default (the machine running the tests may be busy); the slow-store test sets 0.8 s.
    vtime = VirtualTime()
    config = tmp_path / "contextdesk.yaml"
    shopify: dict[str, Any] = {"name": "shopify", "kind": "shopify", **({"live": ["fulfillment"]} if live else {})}
    config.write_text(yaml.safe_dump({"sources": [shopify, {"name": "stripe", "kind": "stripe"}]}))
    with fs.FakeShopify() as shop, fst.FakeStripe(clock=vtime.now) as stripe:
        settings = settings_for(tmp_path, config, shop.url, stripe.url).model_copy(
            update={
                "database_url": sqlite_url(tmp_path, sqlite_template),
                "identity_secret": SECRET,
                "live_lookup_timeout_seconds": timeout_s,
            }
        )
        app = create_app(settings, clock=vtime.now)
        with serve_in_thread(app, settings) as base:
            shop.put("customers", fs.customer(1))
            shop.put("orders", fs.order(1, customer_n=1, updated=fs.NOW - timedelta(days=1)))
            full_sync(app.state.engine, config, vtime, shop.url, stripe.url)
            yield {"vtime": vtime, "shop": shop, "app": app, "base": base}


def ask(base: str, message: str = "where is my order?") -> str:
    """One chat turn of the verified customer in a new conversation: the reply text."""
    with httpx.Client(base_url=base, timeout=30) as client:
        started = client.post("/v1/conversations", json=signed(EMAIL))
        assert started.status_code == 201, started.text
        answer = client.post(f"/v1/conversations/{started.json()['id']}/messages", json={"content": message})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["reply"])


def shipped_order() -> dict[str, Any]:
    return fs.order(1, customer_n=1, tracking=["1Z42"], shipment="IN_TRANSIT")


def test_a_chat_turn_shows_the_vendors_current_value_or_the_stored_one_with_its_age(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with served(tmp_path, sqlite_template, live=True) as w:
        shop, vtime, base = w["shop"], w["vtime"], w["base"]
        assert "hasn't shipped yet" in ask(base)

        # The store ships the order; no sync or webhook has told us.
        shop.put("orders", shipped_order())
        vtime.advance(2 * 3600)
        live_reply = ask(base)

        # The store goes down (connections are refused); the cached answer has expired.
        shop.down = True
        vtime.advance(61)
        down_reply = ask(base)
        ask(base), ask(base)  # three failures in a row open the circuit
        asked_before = len(shop.requests)
        open_reply = ask(base)
        asked_while_open = len(shop.requests) - asked_before

        # Back up: after the cooldown one trial lookup closes the circuit again.
        shop.down = False
        vtime.advance(31)
        recovered_reply = ask(base)

    assert "has shipped with UPS; tracking number 1Z42" in live_reply
    assert "hasn't shipped yet" in down_reply and "1Z42" not in down_reply
    assert "live lookup of order #1001 fulfillment and tracking failed" in down_reply
    assert "shown as stored, as of 2 hours ago" in down_reply
    assert asked_while_open == 0
    assert "hasn't shipped yet" in open_reply and "vendor unavailable, not asked" in open_reply
    assert "tracking number 1Z42" in recovered_reply


def test_a_webhook_drops_the_cached_answer(tmp_path: Path, sqlite_template: Path) -> None:
    with served(tmp_path, sqlite_template, live=True) as w:
        shop, base = w["shop"], w["base"]
        shop.put("orders", shipped_order())
        first = ask(base)  # read live, and cached
        relabelled = fs.order(1, customer_n=1, tracking=["1Z43"], shipment="IN_TRANSIT")
        shop.put("orders", relabelled)
        cached = ask(base)  # within the cache's lifetime, without a webhook: the cached answer
        post(base, "shopify", shop.webhook("orders/updated", fs.rest_order(relabelled)))
        after_webhook = ask(base)  # the webhook dropped the cached answer (before it was even processed)

    assert "tracking number 1Z42" in first and "tracking number 1Z42" in cached
    assert "tracking number 1Z43" in after_webhook


@pytest.mark.timed_wait  # the lookup's deadline is a timed wait on the vendor call's future
def test_a_slow_store_does_not_hold_the_turn(tmp_path: Path, sqlite_template: Path) -> None:
    with served(tmp_path, sqlite_template, live=True, timeout_s=0.8) as w:
        shop, base = w["shop"], w["base"]
        shop.put("orders", shipped_order())
        shop.delay_s = 3.0  # slower than the 800 ms deadline
        slow = ask(base)
        shop.delay_s = 0.0

    assert "hasn't shipped yet" in slow and "no answer within 800 ms" in slow


def test_without_live_lookups_the_chat_shows_what_is_stored(tmp_path: Path, sqlite_template: Path) -> None:
    with served(tmp_path, sqlite_template, live=False) as w:
        shop, base = w["shop"], w["base"]
        shop.put("orders", shipped_order())
        reply = ask(base)
        requests = len(shop.requests)
        ask(base)
        assert len(shop.requests) == requests  # the chat never asks the store
    assert "hasn't shipped yet" in reply and "live lookup" not in reply


def test_a_signed_webhook_changes_the_next_chat_turn_a_forged_one_does_not(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with served(tmp_path, sqlite_template, live=False) as w:
        shop, base, app = w["shop"], w["base"], w["app"]
        assert "hasn't shipped yet" in ask(base)

        forged_body = fs.rest_order(shipped_order())
        forged = post(base, "shopify", shop.webhook("orders/updated", forged_body, secret="attacker-guess-123456"))
        process_pending(deps=app.state.live.propagation)
        after_forged = ask(base)

        shop.put("orders", shipped_order())
        delivery = shop.webhook("orders/updated", fs.rest_order(shipped_order()))
        signed_answer = post(base, "shopify", delivery)
        process_pending(deps=app.state.live.propagation)
        after_signed = ask(base)
        replayed = post(base, "shopify", delivery)  # the same delivery again: acknowledged, not applied twice

        with app.state.engine.connect() as conn:
            reasons = conn.execute(select(RejectedWebhook.__table__.c.reason)).scalars().all()

    assert forged.status_code == 401 and "hasn't shipped yet" in after_forged
    assert reasons == ["signature does not match (X-Shopify-Hmac-Sha256)"]
    assert signed_answer.status_code == 200
    assert "has shipped with UPS; tracking number 1Z42" in after_signed
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True


def test_an_unknown_live_group_is_a_clear_config_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"name": "shopify", "kind": "shopify", "live": ["tracking"]})
    with pytest.raises(ConfigError) as raised:
        LiveLookups(intake=cfg, connections=connections(VirtualTime()), clock=VirtualTime().now)
    assert "source 'shopify': live: ['tracking'] is not a field group shopify can look up live" in str(raised.value)
    assert "['fulfillment']" in str(raised.value)


def test_subscription_status_is_read_live_from_stripe(tmp_path: Path, sqlite_template: Path) -> None:
    vtime = VirtualTime()
    path = tmp_path / "contextdesk.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"name": "stripe", "kind": "stripe", "live": ["subscription"]}]}))
    with fst.FakeStripe(clock=vtime.now) as stripe:
        stripe.put("customers", fst.customer(1))
        stripe.put("subscriptions", fst.subscription(1, customer_n=1, status="active"))
        engine = make_engine(sqlite_url(tmp_path, sqlite_template))
        intake = load_intake_config(path)
        conns = connections(vtime, stripe=(stripe.url, fst.TOKEN))
        sync(engine=engine, config=intake, clock=vtime.now, connections=conns)
        resolve_pending(engine=engine, rules=load_rules(path), now=vtime.now())
        ctx_config = load_context_config(path)
        recompute_profiles(engine=engine, config=ctx_config.profiles, now=vtime.now())
        lookup = LiveLookups(
            intake=intake, connections=live_connections(conns, timeout_s=5.0), clock=vtime.now, timeout_s=5.0
        )
        found = lookup_customer(engine=engine, email=EMAIL)
        assert found.customer_id

        stripe.put("subscriptions", fst.subscription(1, customer_n=1, status="past_due"))
        live = build_customer_context(
            engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config, live=lookup
        )
        stored = build_customer_context(
            engine=engine, customer_id=found.customer_id, now=vtime.now(), config=ctx_config
        )
        lookup.close()

    [sub] = live.subscriptions.items
    assert (sub.status, sub.live, sub.as_of) == ("past_due", True, vtime.now())
    assert [s.status for s in stored.subscriptions.items] == ["active"]  # the store is unchanged
