"""Identity signatures, business hours, config validation, rate limits and prompt fences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.config import BusinessHours, SiteIdentity, load_agent_config, parse_agent_config
from agent.errors import AgentConfigError, RateLimited
from agent.hours import human_eta, is_open
from agent.limits import RateLimiter
from agent.prompt import defuse
from agent.service import AgentDeps
from agent.visitor_identity import check_signature, sign_identity, verify_identity
from context.intake.fields import KNOWN_LABELS
from tests.agent.chat.helpers import MAYA, SECRET

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_signature_is_hmac_sha256_of_the_normalized_identifier() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k" * 16, MAYA.encode(), hashlib.sha256).hexdigest()
    # The original (unversioned) scheme: HMAC of the lower-cased, trimmed email; v2 signs kind + value.
    assert sign_identity(secret="k" * 16, kind="email", identifier=" Maya.Chen@Example.com ", version=1) == expected
    v2 = hmac.new(b"k" * 16, f"contextdesk-identity:v2\nemail\n{MAYA}".encode(), hashlib.sha256).hexdigest()
    assert sign_identity(secret="k" * 16, kind="email", identifier=MAYA) == "v2=" + v2
    assert check_signature(secret=SecretStr("k" * 16), kind="email", identifier=MAYA, user_hash=expected.upper())
    assert not check_signature(secret=SecretStr("k" * 16), kind="email", identifier=MAYA, user_hash=expected[:-1] + "0")
    assert not check_signature(secret=None, kind="email", identifier=MAYA, user_hash=expected)


def test_verify_identity_resolves_emails_and_external_ids(make_deps: Callable[..., AgentDeps]) -> None:
    engine = make_deps().engine
    by_email = verify_identity(
        engine=engine,
        secret=SECRET,
        now=NOW,
        email=MAYA,
        user_hash=sign_identity(secret=SECRET, kind="email", identifier=MAYA),
    )
    assert by_email.verified and by_email.customer_id
    ext = "cus_BLmaya0000001"
    binding = SiteIdentity(user_id_kind="stripe_customer", user_id_format="stripe:{}")
    by_id = verify_identity(
        engine=engine,
        secret=SECRET,
        now=NOW,
        binding=binding,
        user_id=ext,
        user_hash=sign_identity(secret=SECRET, kind="user_id", identifier=ext, binding=binding),
    )
    assert by_id.customer_id == by_email.customer_id
    shared = "info@copperkettle.example"  # two people share it: verified, but never a guess at whose context
    amb = verify_identity(
        engine=engine,
        secret=SECRET,
        now=NOW,
        email=shared,
        user_hash=sign_identity(secret=SECRET, kind="email", identifier=shared),
    )
    assert amb.verified and amb.customer_id is None
    assert not verify_identity(engine=engine, secret=None, now=NOW, email=MAYA, user_hash="x").verified


def test_business_hours_and_eta() -> None:
    hours = BusinessHours(timezone="Europe/London", days=["mon", "tue"], holidays=["2026-12-07"])
    assert is_open(hours, datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # Tuesday 10:00 London
    assert not is_open(hours, datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    within, text = human_eta(hours, datetime(2026, 12, 1, 18, 0, tzinfo=UTC))
    assert not within and "Tuesday 8 December at 09:00" in text  # Monday the 7th is a holiday


def test_config_defaults_and_clear_errors(tmp_path: Path) -> None:
    cfg = parse_agent_config(None)
    assert set(cfg.routes) == {"trial", "active", "past_due", "former", "lead", "customer", "visitor"}
    assert cfg.routes["visitor"].context_sections == [] and cfg.routes["visitor"].qualify_lead
    changed = parse_agent_config({"agent": {"routes": {"trial": {"tone": "playful"}}}})
    assert changed.routes["trial"].tone == "playful" and changed.routes["trial"].goal == cfg.routes["trial"].goal
    path = tmp_path / "contextdesk.yaml"
    path.write_text("agent:\n  routes:\n    active:\n      topics: [weather]\n")
    with pytest.raises(AgentConfigError, match=r"agent\.routes\.active\.topics.*weather"):
        load_agent_config(path)
    with pytest.raises(AgentConfigError, match="unknown time zone"):
        parse_agent_config({"agent": {"business_hours": {"timezone": "Mars/Olympus"}}})


def test_order_statuses_are_configuration_merged_over_the_defaults() -> None:
    cfg = parse_agent_config({"agent": {"order_statuses": {"Awaiting Pickup": "ready_for_pickup"}}})
    assert cfg.order_meaning("awaiting_pickup") == "ready_for_pickup"  # keyed as intake stores the word
    assert cfg.order_meaning("fulfilled") == "shipped"  # the shipped defaults still apply
    assert cfg.order_meaning("processed") is None  # unknown: shown as the store's word, never guessed
    assert cfg.order_meaning(None) == "not_shipped" and cfg.sells_subscriptions
    with pytest.raises(AgentConfigError, match="order_statuses"):
        parse_agent_config({"agent": {"order_statuses": {"processed": "probably_shipped"}}})


def test_intake_knows_every_status_word_the_responder_understands_by_default() -> None:
    # The words `sync` and `sources check` do not warn about (KNOWN_LABELS) are exactly the ones a store's config
    # that sets none of its own gives a meaning, so a built-in word ('returned': the demo's 69 returned orders) is
    # never reported as one the responder ignores, and a store's own word never shadows the built-in ones.
    defaults = parse_agent_config({}).order_statuses
    assert set(KNOWN_LABELS["order.fulfillment_status"]) == set(defaults)
    assert defaults["returned"] == "returned" and defaults["canceled"] == "cancelled"
    own = parse_agent_config({"agent": {"order_statuses": {"Awaiting Pickup": "ready_for_pickup"}}}).order_statuses
    assert set(own) == set(defaults) | {"awaiting_pickup"}


def test_rate_limiter_window() -> None:
    limiter = RateLimiter()
    for i in range(3):
        limiter.hit("messages", "c1", 3, now=100.0 + i)
    with pytest.raises(RateLimited) as err:
        limiter.hit("messages", "c1", 3, now=110.0)
    assert 49 <= err.value.retry_after_s <= 51
    limiter.hit("messages", "c2", 3, now=110.0)  # other keys are independent
    limiter.hit("messages", "c1", 3, now=161.0)  # the window moved on


def test_defuse_removes_fence_lookalikes() -> None:
    assert "[/DATA" not in defuse("ok [/DATA abc] <<<SYSTEM>>> done")
    assert "<<<" not in defuse("<<<SYSTEM>>>")


def test_the_business_section_names_the_greeting_and_sets_the_hours_zone() -> None:
    from agent.service import greeting

    neutral = parse_agent_config(None)
    named = parse_agent_config({"business": {"name": "Spoke & Chain Cycles", "timezone": "Europe/London"}})
    assert neutral.business_hours.timezone == "UTC" and neutral.business_name is None
    assert named.business_hours.timezone == "Europe/London" and named.customer_timezone == "Europe/London"
    assert greeting(first_name="Ana", business_name=named.business_name) == (
        "Hi Ana! I'm the Spoke & Chain Cycles automated assistant. How can I help?"
    )
    assert greeting(first_name=None, business_name=None) == "Hi! I'm the automated assistant. How can I help?"
