"""The push endpoint over real HTTP against the served app (SQLite): records of a `kind: push` source land in the
customer's context, bad values are quarantined with a reason naming the field, a repeat is unchanged, the API key
is required, and a source that does not take pushes answers in the app's error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from context.errors import ConfigError
from context.intake.connectors import Connections, open_connector
from context.intake.service import list_quarantine, sync
from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.context.connectors.fakes.server import VirtualTime
from tests.context.connectors.test_webhooks import sqlite_url
from tests.context.intake.factories import write_config
from tests.contextdesk.http_helpers import API_KEY, serve_in_thread

BOOKINGS = {
    "name": "bookings",
    "kind": "push",
    "id": "booking_id",
    "updated_at": "updated",
    "fields": {"email": "email", "first_name": "first", "last_name": "last", "phone": "phone"},
    "identifiers": {"booking": {"from": "booking_id", "format": "bookings:{}"}},
}
CRM = {"name": "crm", "kind": "csv", "path": "crm.csv", "id": "id", "fields": {"email": "email"}}


NAMES = {1: "Ada", 2: "Grace", 3: "Linus"}


def booking(n: int, **extra: Any) -> dict[str, Any]:
    record = {
        "booking_id": f"B-{n}",
        "email": f"guest{n}@example.com",
        "first": NAMES.get(n, "Sam"),
        "last": "Tester",
        "phone": f"+1 415 555 01{n:02d}",
        "updated": "2026-11-01T10:00:00Z",
    }
    record.update(extra)
    return record


@pytest.fixture
def served(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[httpx.Client, Any]]:
    (tmp_path / "crm.csv").write_text("id,email\n1,crm1@example.com\n")
    config = tmp_path / "contextdesk.yaml"
    config.write_text(yaml.safe_dump({"sources": [BOOKINGS, CRM]}))
    settings = Settings(
        home=tmp_path / "home",
        config_file=config,
        database_url=sqlite_url(tmp_path, sqlite_template),
        api_key=API_KEY,
        webhook_worker=False,
        handoff_worker=False,
    )
    app = create_app(settings, clock=VirtualTime().now)
    with (
        serve_in_thread(app, settings) as base,
        httpx.Client(base_url=base, timeout=30, headers={"X-API-Key": API_KEY}) as client,
    ):
        yield client, app


def context_of(client: httpx.Client, email: str) -> dict[str, Any]:
    found = client.get("/v1/customers/lookup", params={"email": email})
    assert found.status_code == 200, found.text
    assert found.json()["outcome"] == "found", found.json()
    answer = client.get(f"/v1/customers/{found.json()['customer_id']}/context", params={"purpose": "handoff"})
    assert answer.status_code == 200, answer.text
    context: dict[str, Any] = answer.json()["context"]
    return context


def test_pushed_records_land_in_the_context_and_a_repeat_is_unchanged(served: tuple[httpx.Client, Any]) -> None:
    client, app = served
    bad = booking(2, phone="call me maybe")
    answer = client.post("/v1/push/bookings", json={"records": [booking(1), bad, booking(3)]})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert {k: result[k] for k in ("received", "stored", "unchanged", "duplicates", "quarantined")} == {
        "received": 3,
        "stored": 3,
        "unchanged": 0,
        "duplicates": 0,
        "quarantined": 1,
    }
    assert [(p["record"], p["field"]) for p in result["problems"]] == [("B-2", "phone")]
    assert result["problems"][0]["reason"]

    identity = context_of(client, "guest1@example.com")["identity"]
    assert (identity["name"], identity["phone"]) == ("Ada Tester", "+14155550101")
    # The record with the bad phone is stored without it; the value waits in the quarantine with its reason.
    assert context_of(client, "guest2@example.com")["identity"]["phone"] is None
    held = list_quarantine(engine=app.state.engine, source="bookings")
    assert [(q.source_record_id, q.field, q.raw_value) for q in held] == [("B-2", "phone", "call me maybe")]

    # The same records again: nothing is written. A changed one (and an id listed twice: the last wins) is stored.
    again = client.post("/v1/push/bookings", json={"records": [booking(1), bad, booking(3)]}).json()
    assert (again["stored"], again["unchanged"], again["quarantined"]) == (0, 3, 0)
    moved = client.post(
        "/v1/push/bookings",
        json={"records": [booking(3, first="Old"), booking(3, first="Renamed", updated="2026-11-02T10:00:00Z")]},
    ).json()
    assert (moved["received"], moved["stored"], moved["duplicates"]) == (2, 1, 1)
    assert context_of(client, "guest3@example.com")["identity"]["name"] == "Renamed Tester"


def test_a_push_needs_the_api_key(served: tuple[httpx.Client, Any]) -> None:
    client, _app = served
    body = {"records": [booking(1)]}
    for headers in ({"X-API-Key": ""}, {"X-API-Key": "not-the-key"}):
        refused = client.post("/v1/push/bookings", json=body, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
    found = client.get("/v1/customers/lookup", params={"email": "guest1@example.com"})
    assert found.json()["outcome"] == "not_found"  # nothing was stored


def test_unknown_and_pull_sources_and_oversized_pushes_are_refused(served: tuple[httpx.Client, Any]) -> None:
    client, _app = served
    unknown = client.post("/v1/push/nobody", json={"records": [booking(1)]})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "NotFoundError", "detail": "no source named 'nobody' is configured"}
    pull = client.post("/v1/push/crm", json={"records": [{"id": "2", "email": "crm2@example.com"}]})
    assert pull.status_code == 409
    assert pull.json()["error"] == "SourceKindError" and "'csv'" in pull.json()["detail"]
    too_many = client.post("/v1/push/bookings", json={"records": [booking(n) for n in range(1001)]})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["loc"] == ["body", "records"]
    not_objects = client.post("/v1/push/bookings", json={"records": ["B-1"]})
    assert not_objects.status_code == 422


def test_a_sync_skips_push_sources_and_reading_one_says_where_its_records_come_from(
    tmp_path: Path, sqlite_engine: Any
) -> None:
    (tmp_path / "crm.csv").write_text("id,email\n1,crm1@example.com\n")
    cfg = write_config(tmp_path, [BOOKINGS, CRM])
    vtime = VirtualTime()
    summaries = sync(engine=sqlite_engine, config=cfg, clock=vtime.now)
    assert [(s.source, s.status, s.new) for s in summaries] == [("crm", "ok", 1)]
    with pytest.raises(ConfigError, match=r"push source: its records arrive at POST /v1/push/bookings"):
        open_connector(cfg.source("bookings"), Connections(credentials={}, clock=vtime.now))


def test_a_record_without_an_id_is_stored_under_its_content_hash_and_named_in_the_problems(
    served: tuple[httpx.Client, Any],
) -> None:
    client, _app = served
    nameless = {k: v for k, v in booking(1).items() if k != "booking_id"}
    result = client.post("/v1/push/bookings", json={"records": [nameless]}).json()
    assert (result["stored"], result["quarantined"]) == (1, 1)
    [problem] = result["problems"]
    assert problem["record"].startswith("hash:") and problem["field"] == "id" and "no id" in problem["reason"]
    assert context_of(client, "guest1@example.com")["identity"]["name"] == "Ada Tester"
