"""Small factories: a conversation with messages and an escalation, stored directly (no chat service)."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.models import Conversation, ConversationMessage, HandoffRequest
from tests.clock import tick


def escalated_conversation(
    engine: Engine,
    *,
    messages: tuple[tuple[str, str], ...] = (
        ("customer", "Hi, my parcel for order #1042 never came"),
        ("assistant", "I'm passing this conversation to our support team. A person will pick this up shortly."),
    ),
    reason_code: str = "customer_request",
    reason: str = "the customer asked to talk to a person",
) -> tuple[str, int]:
    """A visitor conversation in state `handoff` with an open handoff request; returns (conversation id, request id)."""
    cid = uuid.uuid4().hex
    with Session(engine) as session:
        now = tick()
        session.add(Conversation(id=cid, state="handoff", route="visitor", created_at=now, updated_at=now))
        session.flush()
        for role, content in messages:
            session.add(ConversationMessage(conversation_id=cid, role=role, content=content, created_at=tick()))
        request = HandoffRequest(
            conversation_id=cid,
            reason_code=reason_code,
            reason=reason,
            human_eta="A person will pick this up shortly.",
            created_at=tick(),
        )
        session.add(request)
        session.commit()
        return cid, int(request.id or 0)
