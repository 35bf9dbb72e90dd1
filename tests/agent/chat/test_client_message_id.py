"""Idempotent retries over real HTTP, on SQLite and PostgreSQL: a customer message sent again with the same
`client_message_id` is not stored twice; the retry gets the stored turn's reply, or 409 while it still runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.clock import tick
from tests.contextdesk.http_helpers import limits_yaml, serve_in_thread


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[httpx.Client]:
    """The app served on loopback over the test's database (no help-center index: the grounded responder)."""
    settings = Settings(
        home=tmp_path / "home",
        database_url=engine.url.render_as_string(hide_password=False),
        config_file=limits_yaml(tmp_path / "contextdesk.yaml"),
        handoff_worker=False,
        webhook_worker=False,
    )
    with (
        serve_in_thread(create_app(settings, clock=tick), settings) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        yield http


def _messages(http: httpx.Client, cid: str) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in http.get(f"/v1/conversations/{cid}").json()["messages"]]


def test_a_retry_with_the_same_id_gets_the_stored_reply_and_stores_nothing(client: httpx.Client) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    body = {"content": "how long do refunds take?", "client_message_id": "msg-0001"}
    first = client.post(f"/v1/conversations/{cid}/messages", json=body)
    assert first.status_code == 200
    again = client.post(f"/v1/conversations/{cid}/messages", json=body)
    assert again.status_code == 200
    assert again.json() == first.json()  # the same message, turn and reply as first sent
    assert _messages(client, cid) == [("customer", body["content"]), ("assistant", first.json()["reply"])]

    # Another id, or none, is another message; ids are per conversation.
    other = client.post(f"/v1/conversations/{cid}/messages", json={**body, "client_message_id": "msg-0002"})
    plain = client.post(f"/v1/conversations/{cid}/messages", json={"content": body["content"]})
    assert other.status_code == plain.status_code == 200
    assert len({first.json()["message_id"], other.json()["message_id"], plain.json()["message_id"]}) == 3
    assert [role for role, _ in _messages(client, cid)].count("customer") == 3
    elsewhere = client.post("/v1/conversations", json={}).json()["id"]
    fresh = client.post(f"/v1/conversations/{elsewhere}/messages", json=body)
    assert fresh.status_code == 200 and fresh.json()["message_id"] != first.json()["message_id"]


def test_a_retry_while_the_turn_runs_answers_409_then_the_reply(client: httpx.Client, engine: Engine) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    # Another turn of this conversation is running (it holds the turn lease): the new message's turn waits.
    with engine.begin() as conn:
        conn.execute(
            text("update agent_conversations set turn_owner = 'another-turn', turn_until = :until where id = :id"),
            {"until": tick().replace(year=2100), "id": cid},
        )
    body = {"content": "do you ship internationally?", "client_message_id": "retry-me"}
    accepted = client.post(f"/v1/conversations/{cid}/messages", json=body, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    busy = client.post(f"/v1/conversations/{cid}/messages", json=body)
    assert busy.status_code == 409 and busy.json()["error"] == "MessageInProgress"
    assert int(busy.headers["Retry-After"]) >= 1
    assert _messages(client, cid) == [("customer", body["content"])]  # stored once

    with engine.begin() as conn:  # the other turn ends
        conn.execute(
            text("update agent_conversations set turn_owner = null, turn_until = null where id = :id"), {"id": cid}
        )
    for _ in range(300):
        done = client.post(f"/v1/conversations/{cid}/messages", json=body)
        if done.status_code != 409:
            break
        time.sleep(0.05)
    assert done.status_code == 200
    reply = done.json()
    stored = client.get(f"/v1/conversations/{cid}").json()["messages"]
    assert reply["message_id"] == stored[0]["id"]
    assert reply["turn_key"] == accepted.json()["turn_id"]  # the turn the first request started
    assert _messages(client, cid) == [("customer", body["content"]), ("assistant", reply["reply"])]
    # An asynchronous retry names the same turn and message event.
    repeated = client.post(f"/v1/conversations/{cid}/messages", json=body, headers={"Prefer": "respond-async"})
    assert repeated.status_code == 202 and repeated.json() == accepted.json()


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "ünicode"])
def test_a_malformed_client_message_id_is_refused(client: httpx.Client, bad: str) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    answer = client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello", "client_message_id": bad})
    assert answer.status_code == 422
    assert _messages(client, cid) == []
