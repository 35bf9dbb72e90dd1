"""Streaming for real, over HTTP (httpx against uvicorn on loopback) with the scripted OpenAI server streaming
slowly: checked sentences arrive while the turn still runs, a dropped client resumes with Last-Event-ID (the
turn went on without it), a stop keeps what was sent, and an ungrounded sentence is never shown."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from agent import api
from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate
from agent.service import AgentDeps, start_conversation
from contextdesk.http_errors import install_error_handlers
from tests.agent.chat.helpers import MAYA, signed
from tests.agent.fake_openai import FakeOpenAI, Scripted, answer_json

TRACKING = "1Z999AA10123456784"
SENTENCES = [
    f"Your parcel is on its way with tracking {TRACKING}. ",
    "You can follow it on the carrier's website. ",
    "Let me know if there is anything else I can help with.",
]


@pytest.fixture
def served(make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI) -> Iterator[tuple[str, AgentDeps]]:
    """The chat routes with a model behind the scripted server, on a loopback port."""
    model = build_chat_model(base_url=fake_openai.base_url, api_key=None, model="fake-primary", timeout_s=20)
    deps = make_deps(model=model, llm_deadline_s=20)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(api.router)
    app.state.agent = deps
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}", deps
    srv.should_exit = True
    thread.join(timeout=5)


def _slow(text: str) -> Scripted:
    return Scripted(content=answer_json(text), chunk_chars=4, chunk_delay_s=0.04)


def _events(lines: Iterator[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq, kind, data) of an SSE stream."""
    seq, kind = 0, ""
    for line in lines:
        if line.startswith("id:"):
            seq = int(line.split(":", 1)[1])
        elif line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield seq, kind, json.loads(line.split(":", 1)[1])


def _catch_up(client: httpx.Client, cid: str, after: int = 0) -> list[dict[str, Any]]:
    r = client.get(f"/v1/conversations/{cid}/events", params={"after": after, "format": "json"})
    assert r.status_code == 200
    return list(r.json()["events"])


def test_sentences_arrive_before_the_turn_ends_and_a_dropped_client_resumes(
    served: tuple[str, AgentDeps], fake_openai: FakeOpenAI
) -> None:
    base, deps = served
    fake_openai.script(_slow("".join(SENTENCES)))
    cid = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA))).id
    with httpx.Client(base_url=base, timeout=30) as client:
        seen: list[tuple[int, str, dict[str, Any]]] = []
        with client.stream(
            "POST",
            f"/v1/conversations/{cid}/messages",
            json={"content": "where is my order?"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            for event in _events(response.iter_lines()):
                seen.append(event)
                if event[1] == "sentence":
                    break  # the client drops after the first sentence
            # When the first sentence arrived the reply was not stored yet: the turn was still running.
            roles = [m["role"] for m in client.get(f"/v1/conversations/{cid}").json()["messages"]]
            assert roles == ["customer"]
        assert seen[0][1] == "message" and seen[-1][2]["text"] == SENTENCES[0]
        last = seen[-1][0]
        # Resume with Last-Event-ID: the rest, without repeats, up to the finished turn (it went on without us).
        rest: list[tuple[int, str, dict[str, Any]]] = []
        with client.stream("GET", f"/v1/conversations/{cid}/events", headers={"Last-Event-ID": str(last)}) as r:
            for event in _events(r.iter_lines()):
                rest.append(event)
                if event[1] == "turn_done":
                    break
        assert [s for s, _, _ in rest] == list(range(last + 1, last + 1 + len(rest)))
        text = "".join(d["text"] for _, k, d in seen + rest if k == "sentence")
        assert text == "".join(SENTENCES) == rest[-1][2]["reply"]
        # The REST catch-up holds the same numbered log.
        logged = _catch_up(client, cid)
        assert [e["seq"] for e in logged] == list(range(1, len(logged) + 1))
        assert [e["kind"] for e in logged].count("sentence") == len(SENTENCES)


def test_an_ungrounded_sentence_is_never_shown_and_the_grounded_text_replaces_it(
    served: tuple[str, AgentDeps], fake_openai: FakeOpenAI
) -> None:
    base, deps = served
    fake_openai.script(_slow(SENTENCES[0] + "Your order #1043 was delivered yesterday. It was left at the door."))
    cid = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA))).id
    with (
        httpx.Client(base_url=base, timeout=30) as client,
        client.stream(
            "POST",
            f"/v1/conversations/{cid}/messages",
            json={"content": "where is my order?"},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        events = list(_events(response.iter_lines()))
    sentences = [d["text"] for _, k, d in events if k == "sentence"]
    assert sentences[0] == SENTENCES[0]
    assert not any("1043" in s or "left at the door" in s for s in sentences)
    final = events[-1][2]
    assert events[-1][1] == "turn_done" and final["responder"] == "grounded"
    assert final["reply"] == "".join(sentences) and TRACKING in final["reply"]


def test_stop_ends_the_turn_and_keeps_what_was_sent(served: tuple[str, AgentDeps], fake_openai: FakeOpenAI) -> None:
    base, deps = served
    long = "".join(SENTENCES) + " " + " ".join(f"Here is more detail number {i}." for i in range(1, 30))
    fake_openai.script(_slow(long))
    cid = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA))).id
    with httpx.Client(base_url=base, timeout=30) as client:
        accepted = client.post(
            f"/v1/conversations/{cid}/messages",
            json={"content": "where is my order?"},
            headers={"Prefer": "respond-async"},
        )
        assert accepted.status_code == 202
        turn_id = accepted.json()["turn_id"]
        give_up = time.monotonic() + 30
        while not any(e["kind"] == "sentence" for e in _catch_up(client, cid)):
            assert time.monotonic() < give_up
            time.sleep(0.05)
        stop = client.post(f"/v1/conversations/{cid}/stop")
        assert stop.status_code == 200 and stop.json()["turn_id"] == turn_id
        while not any(e["kind"] == "turn_done" for e in _catch_up(client, cid)):
            assert time.monotonic() < give_up
            time.sleep(0.05)
        logged = _catch_up(client, cid)
        kinds = [e["kind"] for e in logged]
        assert "turn_stopped" in kinds
        sent = "".join(e["data"]["text"] for e in logged if e["kind"] == "sentence")
        reply = [m for m in client.get(f"/v1/conversations/{cid}").json()["messages"] if m["role"] == "assistant"]
        assert reply and reply[0]["content"] == sent and len(sent) < len(long)
        assert client.post(f"/v1/conversations/{cid}/stop").json()["turn_id"] is None
