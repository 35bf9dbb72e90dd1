"""The conversation event log and the turn lease on SQLite and PostgreSQL, with writers in several threads."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.config import parse_agent_config
from agent.events import list_events
from agent.models import ConversationCreate, HandoffRequest
from agent.service import (
    AgentDeps,
    get_transcript,
    handle_message,
    post_human_message,
    set_conversation_state,
    start_conversation,
)
from tests.clock import tick


def _deps(engine: Engine) -> AgentDeps:
    return AgentDeps(engine=engine, config=parse_agent_config({"agent": {}}), now=tick)


def _together(n: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_concurrent_writers_get_gapless_seqs(engine: Engine) -> None:
    deps = _deps(engine)
    cid = start_conversation(deps=deps, request=ConversationCreate()).id

    def work(i: int) -> None:
        for j in range(4):
            # Each in its own transaction, as the handoff package calls them.
            with Session(engine) as session:
                post_human_message(session, conversation_id=cid, content=f"note {i}.{j}", author="Ana", now=tick())
                session.commit()
            with Session(engine) as session:
                set_conversation_state(session, conversation_id=cid, state="with_human", now=tick())
                session.commit()

    _together(4, work)
    logged = list_events(engine=engine, conversation_id=cid)
    assert [e.seq for e in logged] == list(range(1, 33))
    assert sorted(e.kind for e in logged) == ["message"] * 16 + ["state"] * 16
    # Message events carry the stored messages, in the transcript's order.
    assert [e.data["id"] for e in logged if e.kind == "message"] == [
        m.id for m in get_transcript(engine=engine, conversation_id=cid).messages
    ]
    assert list_events(engine=engine, conversation_id=cid, after=30)[0].seq == 31


def test_concurrent_turns_do_not_answer_after_a_handoff(engine: Engine) -> None:
    deps = _deps(engine)
    cid = start_conversation(deps=deps, request=ConversationCreate()).id
    replies: list[str | None] = []

    def work(i: int) -> None:
        replies.append(handle_message(deps=deps, conversation_id=cid, content="I want to talk to a person").reply)

    _together(4, work)
    # One turn escalated; the others ran after it (one at a time) and found a person in charge.
    assert sum(r is not None for r in replies) == 1
    with Session(engine) as session:
        assert len(session.exec(select(HandoffRequest).where(HandoffRequest.conversation_id == cid)).all()) == 1
    roles = [m.role for m in get_transcript(engine=engine, conversation_id=cid).messages]
    assert roles.count("customer") == 4 and roles.count("assistant") == 1
    kinds = [e.kind for e in list_events(engine=engine, conversation_id=cid)]
    assert kinds.count("turn_done") == 4 and kinds.count("state") == 1
