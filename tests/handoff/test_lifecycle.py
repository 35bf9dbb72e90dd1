"""One handoff lifecycle: the inbox (`/v1/handoffs/{id}/…`) and the conversation (`/v1/conversations/{id}/…`)
move the same state machine, over HTTP on the real app; structured escalation triggers set the priority."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from agent.models import ConversationCreate
from agent.service import AgentDeps, handle_message, start_conversation
from handoff.service import HandoffDeps, create_handoff, get_handoff
from tests.agent.chat.helpers import MAYA, signed
from tests.handoff.factories import escalated_conversation
from tests.handoff.test_inbox import KEY, _act, _wait_for_handoff, client  # noqa: F401  (fixture reused)

AUTH = {"X-API-Key": KEY}


def _say(client: TestClient, cid: str, text: str) -> Any:  # noqa: F811
    return client.post(f"/v1/conversations/{cid}/messages", json={"content": text}).json()


def _conversation(client: TestClient, cid: str) -> Any:  # noqa: F811
    return client.get(f"/v1/conversations/{cid}").json()


def test_inbox_and_conversation_drive_one_state_machine(client: TestClient) -> None:  # noqa: F811
    cid = client.post("/v1/conversations", json=signed(MAYA)).json()["id"]
    assert _say(client, cid, "I want to talk to a person")["state"] == "handoff"
    hid = _wait_for_handoff(client, cid)["id"]

    # A human reply from the inbox reaches the conversation; the bot stays silent meanwhile.
    assert (
        _act(client, hid, "reply", actor="kim", message="Hi Maya, Kim here. Checking now.").json()["status"]
        == "claimed"
    )
    assert _say(client, cid, "thanks!")["reply"] is None
    transcript = _conversation(client, cid)
    human = [m for m in transcript["messages"] if m["role"] == "human"]
    assert [(m["author"], m["content"]) for m in human] == [("kim", "Hi Maya, Kim here. Checking now.")]

    # Resolved from the conversation's side: the inbox shows the same move, by the same person.
    done = client.post(
        f"/v1/conversations/{cid}/resolve", json={"actor": "kim", "message": "All sorted."}, headers=AUTH
    )
    assert done.status_code == 200 and done.json()["conversation"]["state"] == "closed"
    handoff = client.get(f"/v1/handoffs/{hid}", headers=AUTH).json()
    assert handoff["status"] == "resolved" and handoff["closed_by"] == "kim"
    assert [h["to_state"] for h in handoff["history"]] == ["open", "claimed", "resolved"]
    assert _act(client, hid, "resolve", actor="kim").status_code == 409  # already resolved, from either side
    again = client.post(f"/v1/conversations/{cid}/resolve", json={"actor": "kim"}, headers=AUTH)
    assert again.status_code == 409

    # The customer writes again: the bot answers; a second escalation is handed back from the inbox's side.
    assert _say(client, cid, "where is my order?")["state"] == "bot"
    assert _say(client, cid, "can I speak to a human please")["state"] == "handoff"
    second = _wait_for_handoff(client, cid)["id"]
    assert second != hid
    assert _act(client, second, "hand-back", actor="sam", message="Back to the bot").status_code == 200
    assert _conversation(client, cid)["conversation"]["state"] == "bot"
    back = client.post(f"/v1/conversations/{cid}/hand-back", json={"actor": "sam"}, headers=AUTH)
    assert back.status_code == 409  # the conversation's side agrees: nothing open any more
    assert client.get(f"/v1/handoffs/{second}", headers=AUTH).json()["status"] == "returned_to_bot"
    assert _say(client, cid, "can you check the tracking of my parcel?")["reply"]


def test_closing_from_the_conversation_before_the_worker_ran_still_moves_the_handoff(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    from handoff.service import close_conversation, list_handoffs, pending_requests
    from tests.clock import tick

    conv = start_conversation(deps=chat, request=ConversationCreate())
    reply = handle_message(deps=chat, conversation_id=conv.id, content="I want to talk to a person")
    assert reply.escalation.handoff_id is not None
    hdeps = make_handoff_deps()
    transcript = close_conversation(hdeps, conversation_id=conv.id, actor="sam", to="returned_to_bot")
    assert transcript.conversation.state == "bot"
    [item] = [h for h in list_handoffs(engine=hdeps.engine, now=tick()) if h.conversation_id == conv.id]
    assert item.status == "returned_to_bot"
    assert pending_requests(hdeps.engine) == []  # the worker will not open a second one


def test_structured_triggers_set_the_priority_not_the_reason_wording(
    chat: AgentDeps, make_handoff_deps: Callable[..., HandoffDeps]
) -> None:
    hdeps = make_handoff_deps()
    conv = start_conversation(deps=chat, request=ConversationCreate(**signed(MAYA)))
    legal = handle_message(deps=chat, conversation_id=conv.id, content="my lawyer will be in touch about order #1042")
    assert legal.escalation.reason_code == "sensitive_topic"
    summary = get_handoff(
        engine=hdeps.engine, handoff_id=create_handoff(hdeps, request_id=legal.escalation.handoff_id or 0)
    ).summary
    assert summary.trigger == "legal" and (summary.priority.level, summary.priority.rule) == (
        "urgent",
        "legal_or_security",
    )
    # Words like "security" or "legal" in a reason's text no longer make anything urgent: only the trigger does.
    _, request_id = escalated_conversation(
        hdeps.engine,
        reason_code="sensitive_topic",
        reason="refund of the security deposit (legal tender) is over the limit",
    )
    other = get_handoff(engine=hdeps.engine, handoff_id=create_handoff(hdeps, request_id=request_id)).summary
    assert other.priority.rule == "sensitive_topic" and other.priority.level == "high"
