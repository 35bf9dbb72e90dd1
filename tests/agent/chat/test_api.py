"""The chat HTTP API served by uvicorn on loopback, driven by httpx: JSON, SSE streaming, limits, CORS, page."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from knowledge.store import KnowledgeStore
from tests.agent.chat.helpers import MAYA, SECRET, signed
from tests.clock import tick

API_KEY = "server-to-server-key-0123456789"


@pytest.fixture(scope="module")
def server(demo_db: Engine, kb: KnowledgeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app (create_app from Settings) on a free loopback port."""
    config = tmp_path_factory.mktemp("cfg") / "contextdesk.yaml"
    config.write_text("agent:\n  limits:\n    max_message_chars: 300\n    messages_per_minute_per_conversation: 4\n")
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=demo_db.url.render_as_string(hide_password=False),
        chroma_path=Path(kb.location),
        config_file=config,
        identity_secret=SECRET,
        api_key=API_KEY,
        cors_origins=["https://shop.example"],
    )
    app = create_app(settings, demo=True, clock=tick)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)


def _start(client: httpx.Client, identity: dict[str, str] | None = None) -> str:
    r = client.post("/v1/conversations", json=identity or {})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_json_turn_and_transcript(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        cid = _start(client, signed(MAYA))
        r = client.post(f"/v1/conversations/{cid}/messages", json={"content": "where is my order?"})
        assert r.status_code == 200
        body = r.json()
        assert "1Z999AA10123456784" in body["reply"] and body["route"] == "active"
        assert body["escalation"]["escalate"] is False and body["state"] == "bot"
        transcript = client.get(f"/v1/conversations/{cid}").json()
        assert [m["role"] for m in transcript["messages"]] == ["customer", "assistant"]
        assert transcript["conversation"]["verified"] is True


def test_sse_stream_end_to_end(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        cid = _start(client, signed(MAYA))
        events: list[tuple[str, str]] = []
        with client.stream(
            "POST",
            f"/v1/conversations/{cid}/messages",
            json={"content": "where is my order?"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    events.append((event, line.split(":", 1)[1].strip()))
        kinds = [k for k, _ in events]
        # The customer's message, the checked sentences of the reply, the reply's message, the finished turn.
        assert kinds[0] == "message" and json.loads(events[0][1])["role"] == "customer"
        assert kinds.count("turn_done") == 1 and kinds[-1] == "turn_done" and kinds.count("sentence") >= 2
        text = "".join(json.loads(d)["text"] for k, d in events if k == "sentence")
        final = json.loads(events[-1][1])
        assert text == final["reply"] and "1Z999AA10123456784" in text
        assert final["route"] == "active" and final["citations"] and final["state"] == "bot"
        assert final["escalation"]["escalate"] is False

        # "I want to talk to a person" escalates, on the stream too.
        with client.stream(
            "POST",
            f"/v1/conversations/{cid}/messages",
            json={"content": "I want to talk to a person"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            data = [line for line in response.iter_lines() if line.startswith("data:")]
        last = json.loads(data[-1].split(":", 1)[1])
        assert last["escalation"]["escalate"] and last["escalation"]["reason_code"] == "customer_request"
        assert last["state"] == "handoff"


def test_limits_give_clear_4xx(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.post("/v1/conversations/unknown/messages", json={"content": "hi"}).status_code == 404
        cid = _start(client)
        too_long = client.post(f"/v1/conversations/{cid}/messages", json={"content": "x" * 301})
        assert too_long.status_code == 413 and "limit is 300" in too_long.json()["detail"]
        codes = [
            client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello"}).status_code for _ in range(5)
        ]
        assert codes[:4] == [200] * 4 and codes[4] == 429
        limited = client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert client.post(f"/v1/conversations/{cid}/messages", json={"content": ""}).status_code == 422


def test_human_side_needs_the_api_key_and_can_hand_back(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        cid = _start(client, signed(MAYA))
        client.post(f"/v1/conversations/{cid}/messages", json={"content": "I want to talk to a person"})
        assert client.get(f"/v1/conversations/{cid}/turns").status_code == 401
        headers = {"X-API-Key": API_KEY}
        turns = client.get(f"/v1/conversations/{cid}/turns", headers=headers).json()
        assert turns[0]["escalation_reason_code"] == "customer_request"
        queue = client.get("/v1/handoff-requests", headers=headers).json()
        assert any(h["conversation_id"] == cid for h in queue)
        back = client.post(f"/v1/conversations/{cid}/hand-back", json={"actor": "sam"}, headers=headers)
        assert back.status_code == 200 and back.json()["conversation"]["state"] == "bot"
        again = client.post(f"/v1/conversations/{cid}/hand-back", json={"actor": "sam"}, headers=headers)
        assert again.status_code == 409


def test_cors_only_for_configured_origins_and_demo_page(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        ok = client.options("/v1/conversations", headers={"Origin": "https://shop.example", **pre})
        assert ok.headers.get("access-control-allow-origin") == "https://shop.example"
        evil = client.options("/v1/conversations", headers={"Origin": "https://evil.example", **pre})
        assert "access-control-allow-origin" not in evil.headers
        page = client.get("/")
        assert page.status_code == 200 and "text/event-stream" in page.text
        personas = client.get("/demo/identities").json()
        maya = next(p for p in personas if p["email"] == MAYA)
        r = client.post("/v1/conversations", json={"email": maya["email"], "user_hash": maya["user_hash"]})
        assert r.json()["verified"] is True and r.json()["route"] == "active"
        schema = client.get("/openapi.json").json()
        assert "/v1/conversations/{conversation_id}/messages" in schema["paths"]
