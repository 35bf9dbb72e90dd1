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

from sqlalchemy import Integer, bindparam, insert, update
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

EVENTS, MESSAGES, CONVERSATIONS = table_of(ConversationEvent), table_of(ConversationMessage), table_of(Conversation)
# The hot statements, built once: SQLAlchemy finds their compiled form by a cache key that a statement rebuilt on
# every call (with its values inlined) would have to recompute each time.
_BUMP_SEQ = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("cid"))
    .values(last_event_seq=CONVERSATIONS.c.last_event_seq + bindparam("n", type_=Integer))
    .returning(CONVERSATIONS.c.last_event_seq)
)
_INSERT_EVENTS = insert(EVENTS)
_INSERT_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
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
    last = session.execute(_BUMP_SEQ, {"cid": conversation_id, "n": len(events)}).scalar_one_or_none()
    if last is None:
        raise ConversationNotFound(conversation_id)
    first = int(last) - len(events) + 1
    insert_events(session, conversation_id, first, events, at)
    return list(range(first, int(last) + 1))


def insert_events(
    session: Session,
    conversation_id: str,
    first_seq: int,
    events: Sequence[tuple[ConversationEventKind, dict[str, Any]]],
    at: datetime,
) -> None:
    """Insert events numbered from `first_seq` on, for a caller that already bumped `last_event_seq` by as many
    (in the same transaction: a chat turn folds the bump into the UPDATE of the conversation row it makes anyway)."""
    if not events:
        return
    # A Core insert: the chat's hot path, no ORM objects to build and flush.
    session.execute(
        _INSERT_EVENTS,
        [
            {"conversation_id": conversation_id, "seq": first_seq + i, "kind": kind, "data": data, "at": at}
            for i, (kind, data) in enumerate(events)
        ],
    )


def message_data(msg: ConversationMessage) -> dict[str, Any]:
    """The `message` event's data: the message as the transcript shows it."""
    return message_row_data(int(msg.id or 0), msg.role, msg.content, msg.author, msg.citations, msg.created_at)


def message_row_data(
    message_id: int, role: str, content: str, author: str | None, citations: Sequence[dict[str, Any]], at: datetime
) -> dict[str, Any]:
    """`message_data` from the row's values (the chat's turn inserts messages without building the model)."""
    return {
        "id": message_id,
        "role": role,
        "content": content,
        "author_name": author,
        "citations": list(citations),
        "at": at.isoformat(),
    }


def insert_message(
    session: Session,
    *,
    conversation_id: str,
    role: str,
    content: str,
    created_at: datetime,
    turn_id: int | None = None,
    citations: Sequence[dict[str, Any]] = (),
    author: str | None = None,
    client_message_id: str | None = None,
) -> int:
    """Insert a message row (Core, no event) in the caller's transaction; its id.

    The chat's hot path: a SQLModel instance costs more to build than the insert (its default factories are
    inspected on every construction), and the turn logs the `message` event with its other events.
    """
    values = {
        "conversation_id": conversation_id,
        "role": role,
        "content": content,
        "created_at": created_at,
        "turn_id": turn_id,
        "citations": list(citations),
        "author": author,
        "client_message_id": client_message_id,
    }
    return int(session.execute(_INSERT_MESSAGE, values).scalar_one())


def append_message(session: Session, msg: ConversationMessage) -> int:
    """Store a message and log its `message` event, in the caller's transaction; returns the event's seq.

    The row is written with a Core insert (the chat's hot path) and `msg.id` set from it; `msg` itself is not
    added to the session.
    """
    values = {c.name: getattr(msg, c.name) for c in MESSAGES.columns if c.name != "id"}
    msg.id = int(session.execute(_INSERT_MESSAGE, values).scalar_one())
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
