"""The inbox over HTTP on the real app (create_app: the chat's escalation wakes the outbox worker), and the
state machine on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from handoff.errors import InboxStateError
from handoff.service import HandoffDeps, add_note, claim, close, create_handoff, get_handoff, list_handoffs, reply
from tests.agent.chat.helpers import MAYA, SECRET, signed
from tests.clock import NOW, tick
from tests.handoff.factories import escalated_conversation

KEY = "inbox-test-api-key-0123456789"


@pytest.fixture
def client(demo_db: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path,
        database_url=str(demo_db.url),
        api_key=SecretStr(KEY),
        identity_secret=SECRET,
        config_file=None,
    )
    with TestClient(create_app(settings, clock=tick)) as c:  # runs the lifespan: the outbox worker starts
        yield c


def _act(client: TestClient, hid: int, what: str, **body: str) -> Any:
    return client.post(f"/v1/handoffs/{hid}/{what}", json=body, headers={"X-API-Key": KEY})


def _wait_for_handoff(client: TestClient, conversation_id: str) -> dict:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        rows = client.get("/v1/handoffs", params={"status": "open"}, headers={"X-API-Key": KEY}).json()
        mine = [r for r in rows if r["conversation_id"] == conversation_id]
        if mine:
            return mine[0]
        time.sleep(0.05)
    raise AssertionError("no handoff appeared")


def test_demo_refund_request_reaches_the_inbox_and_a_human_reply_reaches_the_conversation(client: TestClient) -> None:
    conv = client.post("/v1/conversations", json=signed(MAYA)).json()
    turn = client.post(
        f"/v1/conversations/{conv['id']}/messages",
        json={"content": "I want a refund for order #1042 and I want a person"},
    ).json()
    assert turn["escalation"]["reason_code"] == "customer_request" and turn["state"] == "handoff"
    item = _wait_for_handoff(client, conv["id"])
    assert item["priority"] == "high" and "#1042" in item["headline"]
    auth = {"X-API-Key": KEY}
    h = client.get(f"/v1/handoffs/{item['id']}", headers=auth).json()
    assert any(
        f["label"] == "Order #1042" and "1Z999AA10123456784" in f["value"] for f in h["summary"]["verified_facts"]
    )
    assert h["summary_text"].splitlines()[0] == h["summary"]["headline"]
    # claim → reply → note → resolve, each recorded with who and when
    hid = item["id"]
    assert _act(client, hid, "claim", actor="sam").json()["status"] == "claimed"
    r = _act(client, hid, "claim", actor="kim")
    assert r.status_code == 409 and "sam" in r.json()["detail"]
    _act(client, hid, "reply", actor="sam", message="Hi Maya, refund approved.")
    _act(client, hid, "notes", actor="sam", body="checked with UPS")
    transcript = client.get(f"/v1/conversations/{conv['id']}").json()  # what the widget shows
    human = [m for m in transcript["messages"] if m["role"] == "human"]
    assert [(m["author"], m["content"]) for m in human] == [("sam", "Hi Maya, refund approved.")]
    assert "checked with UPS" not in str(transcript)  # internal notes never reach the customer
    done = _act(client, hid, "resolve", actor="sam").json()
    assert done["status"] == "resolved" and [s["to_state"] for s in done["history"]] == ["open", "claimed", "resolved"]
    assert all(s["actor"] and s["at"] for s in done["history"])
    assert (
        client.post(f"/v1/handoffs/{item['id']}/reply", json={"actor": "sam", "message": "x"}, headers=auth).status_code
        == 409
    )
    assert client.get(f"/v1/conversations/{conv['id']}").json()["conversation"]["state"] == "closed"


def test_inbox_needs_the_api_key_and_the_page_holds_no_data(client: TestClient) -> None:
    assert client.get("/v1/handoffs").status_code == 401
    assert client.get("/v1/handoffs", headers={"X-API-Key": "wrong-key-0123456789"}).status_code == 401
    page = client.get("/inbox")
    assert page.status_code == 200 and "X-API-Key" in page.text
    assert "Maya" not in page.text and "#1042" not in page.text and "cus_" not in page.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "HandoffSummary" in schema and schema["HandoffSummary"]["properties"]["schema_version"]["const"] == "1.0"


def test_hand_back_returns_the_conversation_to_the_bot(client: TestClient) -> None:
    conv = client.post("/v1/conversations", json=signed(MAYA)).json()
    client.post(f"/v1/conversations/{conv['id']}/messages", json={"content": "I want to talk to a person"})
    item = _wait_for_handoff(client, conv["id"])
    auth = {"X-API-Key": KEY}
    back = client.post(
        f"/v1/handoffs/{item['id']}/hand-back", json={"actor": "kim", "message": "Back to the bot"}, headers=auth
    )
    assert back.json()["status"] == "returned_to_bot" and back.json()["closed_by"] == "kim"
    again = client.post(f"/v1/conversations/{conv['id']}/messages", json={"content": "where is my order?"}).json()
    assert again["state"] == "bot" and "1Z999AA10123456784" in (again["reply"] or "")


def test_state_machine_and_filters(engine: Engine, make_handoff_deps: Callable[..., HandoffDeps]) -> None:
    deps = make_handoff_deps(engine=engine)
    ids = [
        create_handoff(deps, request_id=escalated_conversation(engine, reason_code=code)[1])
        for code in ("customer_request", "no_answer", "frustration")
    ]
    assert {h.reason_code for h in list_handoffs(now=NOW, engine=engine, reason=["no_answer"])} == {"no_answer"}
    assert list_handoffs(now=NOW, engine=engine, min_age_minutes=60) == []  # all brand new
    assert len(list_handoffs(now=NOW, engine=engine, max_age_minutes=60, status=["open"])) == 3
    priorities = [h.priority for h in list_handoffs(now=NOW, engine=engine)]
    assert priorities == sorted(priorities, key=["urgent", "high", "normal", "low"].index)  # urgent first
    first, second, third = ids
    claim(now=NOW, engine=engine, handoff_id=first, actor="sam")
    with pytest.raises(InboxStateError):
        close(now=NOW, engine=engine, handoff_id=first, actor="kim", to="resolved")  # claimed by sam
    taken = claim(now=NOW, engine=engine, handoff_id=first, actor="kim", take_over=True)
    assert taken.claimed_by == "kim"
    assert close(now=NOW, engine=engine, handoff_id=first, actor="kim", to="resolved").status == "resolved"
    with pytest.raises(InboxStateError):
        claim(now=NOW, engine=engine, handoff_id=first, actor="sam")
    assert (
        reply(now=NOW, engine=engine, handoff_id=second, actor="lee", message="On it").status == "claimed"
    )  # auto-claim
    assert (
        close(now=NOW, engine=engine, handoff_id=second, actor="lee", to="returned_to_bot").status == "returned_to_bot"
    )
    note = add_note(now=NOW, engine=engine, handoff_id=first, actor="kim", body="closed after the call")
    assert note.notes[-1].body == "closed after the call"  # notes allowed after closing
    assert [s.to_state for s in get_handoff(engine=engine, handoff_id=first).history] == [
        "open",
        "claimed",
        "claimed",
        "resolved",
    ]
    assert [h.id for h in list_handoffs(now=NOW, engine=engine, status=["open"])] == [third]
