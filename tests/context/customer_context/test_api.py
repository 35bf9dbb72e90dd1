"""The read API over HTTP (httpx ASGI transport) against a real migrated database, behind X-API-Key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from context.profiles import recompute_profiles
from contextdesk.app import create_app
from contextdesk.settings import Settings
from demo import bundled_config_path
from demo import context_config as demo_context_config
from tests.clock import NOW, tick
from tests.context.profiles.factories import customer, day, order, record, subscription

KEY = "test-key-0123456789abcdef"


def _get(settings: Settings, path: str, **kwargs: Any) -> httpx.Response:
    app = create_app(settings, clock=tick)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **kwargs)

    try:
        return asyncio.run(call())
    finally:
        app.state.engine.dispose()


def _settings(engine: Engine, api_key: str | None = KEY) -> Settings:
    url = engine.url.render_as_string(hide_password=False)
    return Settings(database_url=url, api_key=api_key, config_file=bundled_config_path())


def test_context_and_lookup_endpoints(sqlite_engine: Engine) -> None:
    cid = customer(sqlite_engine)
    record(sqlite_engine, cid, "crm", "c1", email="maya@example.com", full_name="Maya Chen", notes="VIP-ONLY-NOTE")
    subscription(sqlite_engine, cid, "sub_M", "active", plan="pro", current_period_end=day(9))
    order(sqlite_engine, cid, "#1042", day(-5))
    recompute_profiles(now=NOW, engine=sqlite_engine, config=demo_context_config().profiles)
    settings = _settings(sqlite_engine)
    headers = {"X-API-Key": KEY}

    found = _get(settings, "/v1/customers/lookup", params={"email": "Maya@Example.com"}, headers=headers)
    assert found.status_code == 200
    assert found.json()["outcome"] == "found" and found.json()["customer_id"] == cid

    resp = _get(settings, f"/v1/customers/{cid}/context", params={"render": "true"}, headers=headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["context"]["status"]["status"] == "active"
    assert body["context"]["orders"]["recent"][0]["number"] == "#1042"
    assert "VIP-ONLY-NOTE" not in resp.text  # llm_prompt is the default purpose
    assert "#1042" in body["rendered"]["text"]
    handoff = _get(settings, f"/v1/customers/{cid}/context", params={"purpose": "handoff"}, headers=headers)
    assert "VIP-ONLY-NOTE" in handoff.text

    missing = _get(settings, "/v1/customers/cus_missing/context", headers=headers)
    assert missing.status_code == 404 and "cus_missing" in missing.json()["detail"]
    bad = _get(settings, "/v1/customers/lookup", params={"postcode": "94110"}, headers=headers)
    assert bad.status_code == 422 and "name and postcode" in bad.json()["detail"]


def test_api_key_is_required_and_never_open_by_default(sqlite_engine: Engine) -> None:
    settings = _settings(sqlite_engine)
    assert _get(settings, "/v1/customers/lookup", params={"email": "a@b.example"}).status_code == 401
    wrong = _get(settings, "/v1/customers/lookup", params={"email": "a@b.example"}, headers={"X-API-Key": "x" * 24})
    assert wrong.status_code == 401
    closed = _get(
        _settings(sqlite_engine, api_key=None),
        "/v1/customers/lookup",
        params={"email": "a@b.example"},
        headers={"X-API-Key": KEY},
    )
    assert closed.status_code == 503 and "CONTEXTDESK_API_KEY" in closed.json()["detail"]
