"""The numbered event log of a conversation (table `conversation_events`): appended in the writer's own
transaction, read back after a seq (SSE resume with Last-Event-ID, the REST catch-up).

The seq comes from a counter on the conversation row (`last_event_seq`), bumped by an UPDATE in the same
transaction: on PostgreSQL that row lock orders concurrent writers of one conversation, on SQLite the database
write lock does, so seqs are 1, 2, 3… with no gaps or duplicates whichever process writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.errors import ConversationNotFound
from agent.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationMessage,
    EventPublic,
)
from context.dbtypes import table_of

#: The most events one catch-up read returns (a client pages on with the last seq it got).
PAGE = 500


def append_event(
    session: Session, conversation_id: str, kind: ConversationEventKind, data: dict[str, Any], at: datetime
) -> int:
    """Append one event in the caller's transaction and return its seq."""
    return append_events(session, conversation_id, [(kind, data)], at)[0]


def append_events(
    session: Session,
    conversation_id: str,
    events: Sequence[tuple[ConversationEventKind, dict[str, Any]]],
    at: datetime,
) -> list[int]:
    """Append several events in order in the caller's transaction (one counter bump for all); their seqs."""
    if not events:
        return []
    table = table_of(Conversation)
    last = session.execute(
        update(table)
        .where(table.c.id == conversation_id)
        .values(last_event_seq=table.c.last_event_seq + len(events))
        .returning(table.c.last_event_seq)
    ).scalar_one_or_none()
    if last is None:
        raise ConversationNotFound(conversation_id)
    first = int(last) - len(events) + 1
    session.add_all(
        [
            ConversationEvent(conversation_id=conversation_id, seq=first + i, kind=kind, data=data, at=at)
            for i, (kind, data) in enumerate(events)
        ]
    )
    return list(range(first, int(last) + 1))


def message_data(msg: ConversationMessage) -> dict[str, Any]:
    """The `message` event's data: the message as the transcript shows it."""
    return {
        "id": msg.id,
        "role": msg.role,
        "content": msg.content,
        "author_name": msg.author,
        "citations": list(msg.citations),
        "at": msg.created_at.isoformat(),
    }


def append_message(session: Session, msg: ConversationMessage) -> int:
    """Store a message and log its `message` event, in the caller's transaction; returns the event's seq."""
    session.add(msg)
    session.flush()  # the message id goes into the event
    return append_event(session, msg.conversation_id, "message", message_data(msg), msg.created_at)


def list_events(*, engine: Engine, conversation_id: str, after: int = 0, limit: int = PAGE) -> list[EventPublic]:
    """Events with seq > `after`, oldest first (at most `limit`); ConversationNotFound for an unknown id."""
    with Session(engine) as session:
        rows = session.exec(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id, col(ConversationEvent.seq) > after)
            .order_by(col(ConversationEvent.seq))
            .limit(limit)
        ).all()
        if not rows and session.get(Conversation, conversation_id) is None:
            raise ConversationNotFound(conversation_id)
        return [EventPublic(seq=r.seq, kind=r.kind, data=r.data, at=r.at) for r in rows]
