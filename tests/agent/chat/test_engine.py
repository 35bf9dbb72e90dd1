"""The turn under faults, with real parts: the scripted OpenAI server on loopback, real SQLite with a second
connection holding its write lock, and two turns at once."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from agent import api
from agent.errors import StoreBusy
from agent.events import list_events
from agent.llm.factory import build_chat_model
from agent.models import ConversationCreate
from agent.service import AgentDeps, get_transcript, handle_message, list_turns, start_conversation
from contextdesk.http_errors import install_error_handlers
from knowledge.embedders import MiniLMEmbedder
from knowledge.store import open_store
from tests.agent.chat.helpers import MAYA, signed
from tests.agent.fake_openai import FakeOpenAI, Scripted, answer_json

TRACKING = "1Z999AA10123456784"


def _llm_deps(make_deps: Callable[..., AgentDeps], server: FakeOpenAI, **overrides: object) -> AgentDeps:
    model = build_chat_model(base_url=server.base_url, api_key=None, model="fake-primary", timeout_s=20)
    return make_deps(model=model, llm_deadline_s=20, **overrides)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition not reached"
        time.sleep(0.02)


def test_the_message_is_visible_while_the_model_is_still_answering_and_after_it_drops(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    deps = _llm_deps(make_deps, fake_openai)
    # The model hangs, then the connection is cut mid-answer (every retry too): the turn is in trouble.
    cut = Scripted(content=answer_json("Your order shipped."), delay_s=1.0, drop_after_chars=5)
    fake_openai.script(cut, cut, cut, cut)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    worker = threading.Thread(
        target=lambda: handle_message(deps=deps, conversation_id=conv.id, content="where is my parcel now?")
    )
    worker.start()
    _wait_for(lambda: bool(fake_openai.chat_requests()))
    # Mid-turn, before the model said anything, the person who takes over can already read the message.
    during = get_transcript(engine=deps.engine, conversation_id=conv.id).messages
    assert [(m.role, m.content) for m in during] == [("customer", "where is my parcel now?")]
    worker.join(timeout=60)
    after = get_transcript(engine=deps.engine, conversation_id=conv.id).messages
    assert [m.role for m in after] == ["customer", "assistant"]  # the grounded responder answered instead
    kinds = [e.kind for e in list_events(engine=deps.engine, conversation_id=conv.id)]
    assert kinds[0] == "message" and kinds[-1] == "turn_done"


def test_two_turns_of_one_conversation_run_one_after_the_other(
    make_deps: Callable[..., AgentDeps], fake_openai: FakeOpenAI
) -> None:
    deps = _llm_deps(make_deps, fake_openai)
    first = f"Your parcel is on its way with tracking {TRACKING}."
    fake_openai.script(
        Scripted(content=answer_json(first), delay_s=0.8), Scripted(content=answer_json("You're welcome."))
    )
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    replies: dict[str, str | None] = {}

    def send(text: str) -> None:
        replies[text] = handle_message(deps=deps, conversation_id=conv.id, content=text).reply

    a = threading.Thread(target=send, args=("where is my order?",))
    a.start()
    _wait_for(lambda: bool(fake_openai.chat_requests()))
    b = threading.Thread(target=send, args=("thanks a lot for checking that",))
    b.start()
    a.join(timeout=60)
    b.join(timeout=60)
    assert replies["where is my order?"] == first
    # The second turn waited: the model saw the first reply in its history.
    second_prompt = fake_openai.chat_requests()[1].messages
    assert any(m["role"] == "assistant" and TRACKING in m["content"] for m in second_prompt), second_prompt
    roles = [m.role for m in get_transcript(engine=deps.engine, conversation_id=conv.id).messages]
    assert roles.count("assistant") == 2 and roles[-1] == "assistant"


def test_a_broken_help_center_gives_a_degraded_answer_not_an_error(
    make_deps: Callable[..., AgentDeps], tmp_path: Path
) -> None:
    store = open_store(path=tmp_path / "chroma", embedder=MiniLMEmbedder())
    for collection in store.client.list_collections():  # the index vanishes under the running server
        store.client.delete_collection(collection if isinstance(collection, str) else collection.name)
    deps = make_deps(store=store)
    conv = start_conversation(deps=deps, request=ConversationCreate(**signed(MAYA)))
    reply = handle_message(deps=deps, conversation_id=conv.id, content="where is my order?")
    assert reply.reply is not None and TRACKING in reply.reply  # answered from the customer's records
    assert "help center is unavailable" in reply.reply
    turn = list_turns(engine=deps.engine, conversation_id=conv.id)[-1]
    assert "knowledge_unavailable" in turn.prompt


@pytest.fixture
def app_server(make_deps: Callable[..., AgentDeps]) -> Iterator[tuple[str, AgentDeps]]:
    """The chat routes over the demo database on a loopback port (deps with a short write wait)."""
    deps = make_deps(write_wait_s=0.5)
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


def test_a_locked_database_gives_a_json_503_and_reads_stay_fast(
    app_server: tuple[str, AgentDeps], demo_db: Engine
) -> None:
    base, deps = app_server
    with httpx.Client(base_url=base, timeout=30) as client:
        conv = start_conversation(deps=deps, request=ConversationCreate())
        cid = conv.id
        assert client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello there"}).status_code == 200
        database = demo_db.url.database
        assert database
        holder = sqlite3.connect(database, timeout=1, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's write lock
        try:
            busy = client.post(f"/v1/conversations/{cid}/messages", json={"content": "are you there?"})
            assert busy.status_code == 503 and busy.headers["Retry-After"]
            assert busy.json()["error"] == StoreBusy.__name__
            transcript = client.get(f"/v1/conversations/{cid}")  # lock-free read, answered while locked
            assert transcript.status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Nothing half-stored: the refused message is not there, and the retry goes through.
        contents = [m["content"] for m in client.get(f"/v1/conversations/{cid}").json()["messages"]]
        assert "are you there?" not in contents
        again = client.post(f"/v1/conversations/{cid}/messages", json={"content": "are you there?"})
        assert again.status_code == 200
        contents = [m["content"] for m in client.get(f"/v1/conversations/{cid}").json()["messages"]]
        assert contents.count("are you there?") == 1


def test_the_chat_write_lock_of_another_server_process_is_waited_for_then_503(
    app_server: tuple[str, AgentDeps], demo_db: Engine
) -> None:
    """The server processes' chat writers queue on `<database>-chatlock`: held elsewhere, a write waits its bounded
    time and the message is refused (not stored); free again, the retry is taken."""
    base, deps = app_server
    with httpx.Client(base_url=base, timeout=30) as client:
        cid = start_conversation(deps=deps, request=ConversationCreate()).id
        assert client.post(f"/v1/conversations/{cid}/messages", json={"content": "hello there"}).status_code == 200
        lock_file = f"{demo_db.url.database}-chatlock"
        assert Path(lock_file).exists()  # made by the first write
        other = os.open(lock_file, os.O_RDWR)  # its own open file: a lock as another process holds it
        fcntl.flock(other, fcntl.LOCK_EX)
        try:
            busy = client.post(f"/v1/conversations/{cid}/messages", json={"content": "still there?"})
            assert busy.status_code == 503 and busy.json()["error"] == StoreBusy.__name__
        finally:
            fcntl.flock(other, fcntl.LOCK_UN)
            os.close(other)
        again = client.post(f"/v1/conversations/{cid}/messages", json={"content": "still there?"})
        assert again.status_code == 200
        contents = [m["content"] for m in client.get(f"/v1/conversations/{cid}").json()["messages"]]
        assert contents.count("still there?") == 1
