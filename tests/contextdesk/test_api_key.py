"""The API key guards every server-to-server route, attached once by the composition root: walked over the
real app's OpenAPI paths, each private one answers 401 without the key and is not a 401 with it; the customer-facing
chat and signed webhooks stay open."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.contextdesk.http_helpers import API_KEY, limits_yaml, serve_in_thread

#: Routes a customer's browser or a vendor calls: no API key (conversation ids, identity tokens and webhook
#: signatures are their authentication).
PUBLIC = re.compile(
    r"^/v1/(conversations(/\{conversation_id\}(/messages|/events|/events\.json|/stop)?)?|webhooks/.*|widget/.*)$"
)


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(
        home=tmp_path,
        database_url=engine.url.render_as_string(hide_password=False),
        config_file=limits_yaml(tmp_path / "contextdesk.yaml"),
        api_key=API_KEY,
        handoff_worker=False,
    )
    with serve_in_thread(create_app(settings), settings) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_private_route_needs_the_key(served: httpx.Client) -> None:
    paths: dict[str, dict[str, object]] = served.get("/openapi.json").json()["paths"]
    private = {p: ops for p, ops in paths.items() if p.startswith("/v1/") and not PUBLIC.match(p)}
    assert {"/v1/customers/lookup", "/v1/handoffs", "/v1/health/sources", "/v1/push/{source}"} <= set(private)
    for path, ops in private.items():
        for method in sorted(m.upper() for m in ops if m in {"get", "post", "put", "patch", "delete"}):
            without = served.request(method, _url(path), json={})
            assert without.status_code == 401, (method, path, without.text)
            wrong = served.request(method, _url(path), json={}, headers={"X-API-Key": "not-the-key"})
            assert wrong.status_code == 401, (method, path)
            right = served.request(method, _url(path), json={}, headers={"X-API-Key": API_KEY})
            assert right.status_code != 401, (method, path, right.text)


def test_the_customer_side_needs_no_key(served: httpx.Client) -> None:
    client = served
    created = client.post("/v1/conversations", json={})
    assert created.status_code == 201, created.text
    assert client.get(f"/v1/conversations/{created.json()['id']}").status_code == 200
