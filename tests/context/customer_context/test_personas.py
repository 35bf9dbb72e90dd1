"""The demo personas end to end: generate → sync → resolve identities → profiles → context and CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from context.customer_context import build_customer_context, lookup_customer, render_context
from context.identity import service as identity
from context.identity.rules import load_rules
from context.intake.config import load_intake_config
from context.intake.service import sync
from context.profiles import recompute_profiles
from contextdesk.db import make_engine, upgrade
from demo import context_config as demo_context_config
from demo import generate
from tests.clock import NOW, tick


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    """A small generated Brightleaf store (personas + a few generated people), fully processed."""
    out = tmp_path_factory.mktemp("demo")
    result = generate(out, customers=30, seed=7)
    engine = make_engine(f"sqlite:///{out / 'store.db'}")
    upgrade(engine)
    sync(clock=tick, engine=engine, config=load_intake_config(result.config_path), workers=0)
    identity.resolve_pending(now=NOW, engine=engine, rules=load_rules(result.config_path))
    recompute_profiles(now=NOW, engine=engine, config=demo_context_config().profiles)
    yield engine, result.config_path
    engine.dispose()


PERSONAS = [
    ({"external_id": "cus_BLmaya0000001"}, "Maya Chen", "active", ["renews 2026-11-10"]),
    ({"external_id": "cus_BLliam0000002"}, "Liam O'Brien", "trial", ["trialing", "trial ends"]),
    ({"order": "#1035"}, "Priya Natarajan", "past_due", ["past_due"]),
    ({"order": "#1010"}, "Herrera", "former", ["sub_BLtomas000004", "canceled_at 2026-08-15"]),
    ({"external_id": "crm:contact:100006"}, "Grace Okafor", "lead", ["no orders"]),
    ({"order": "#1063"}, "Ben Carter", "customer", ["orders", "no subscription"]),
]


@pytest.mark.parametrize(("query", "name", "status", "cause_bits"), PERSONAS, ids=[p[2] for p in PERSONAS])
def test_persona_status_and_context(
    demo: tuple[Engine, Path], query: dict[str, str], name: str, status: str, cause_bits: list[str]
) -> None:
    engine, _ = demo
    # A bare external id is tried in the identifier formats of the demo's sources ("stripe:{}").
    found = lookup_customer(engine=engine, **query, external_id_formats=demo_context_config().external_id_formats)
    assert found.outcome == "found", found
    ctx = build_customer_context(
        config=demo_context_config(), now=NOW, engine=engine, customer_id=str(found.customer_id), purpose="handoff"
    )
    assert name in (ctx.identity.name or "")
    assert ctx.status.status == status
    for bit in cause_bits:
        assert bit in ctx.status.cause
    text = render_context(ctx, max_tokens=600).text
    assert f"Status: {status}" in text


def test_maya_in_transit_order_and_shared_info_address(demo: tuple[Engine, Path]) -> None:
    engine, _ = demo
    maya = lookup_customer(engine=engine, order="#1042")
    ctx = build_customer_context(
        config=demo_context_config(), now=NOW, engine=engine, customer_id=str(maya.customer_id)
    )
    newest = ctx.orders.recent[0]
    assert newest.number == "#1042" and newest.tracking_numbers == ["1Z999AA10123456784"] and newest.carrier == "UPS"
    shared = lookup_customer(engine=engine, email="info@copperkettle.example")
    assert shared.outcome == "ambiguous" and len(shared.candidates) >= 2  # Sofia and Daniel, never a guess


def test_cli_show_and_conflicts(demo: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from contextdesk.cli import app, common

    engine, config_path = demo
    monkeypatch.setenv("CONTEXTDESK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CONTEXTDESK_CONFIG_FILE", str(config_path))
    monkeypatch.setenv("COLUMNS", "160")
    common.settings.cache_clear()
    common.engine.cache_clear()
    try:
        runner = CliRunner()
        shown = runner.invoke(app, ["customers", "show", "#1010"])
        assert shown.exit_code == 0, shown.output
        assert "former" in shown.output and "canceled_at 2026-08-15" in shown.output and "#1010" in shown.output
        as_json = runner.invoke(app, ["customers", "show", "#1010", "--json", "--purpose", "llm_prompt"])
        assert as_json.exit_code == 0 and '"status": "former"' in as_json.output
        conflicts = runner.invoke(app, ["customers", "conflicts", "--field", "status"])
        assert conflicts.exit_code == 0 and "100003" in conflicts.output  # Liam: CRM still says lead
        missing = runner.invoke(app, ["customers", "show", "nobody@example.com"])
        assert missing.exit_code == 1 and "no customer found" in missing.output
    finally:
        common.settings.cache_clear()
        common.engine.cache_clear()
