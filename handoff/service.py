"""Handoffs: created from the agent's escalations (summary + outbox rows, one transaction), and the inbox —
list, claim, reply to the customer, note, resolve, hand back.

The ONE lifecycle of an escalation: open → claimed → resolved | returned_to_bot, on the `handoffs` row. The agent
only records the escalation (`agent_handoff_requests`, no state of its own); every move here changes the
conversation in the same transaction through `agent.service.set_conversation_state` / `post_human_message`,
whether it comes from the inbox (`/v1/handoffs/{id}/…`) or the conversation (`/v1/conversations/{id}/…`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agent.llm.base import StructuredChatModel
from agent.models import Conversation, ConversationState, HandoffRequest, TranscriptPublic
from agent.service import get_transcript, post_human_message, set_conversation_state
from context.customer_context import ContextConfig
from handoff import outbox
from handoff.config import HandoffConfig
from handoff.delivery import Target
from handoff.errors import HandoffNotFound, InboxStateError
from handoff.models import (
    PRIORITY_RANK,
    Handoff,
    HandoffListItem,
    HandoffNote,
    HandoffPublic,
    HandoffStateChange,
    HandoffSummary,
    NotePublic,
    StateChangePublic,
)
from handoff.summary import gather_inputs, write_summary
from handoff.summary_text import render_markdown, render_text

log = logging.getLogger(__name__)


@dataclass
class HandoffDeps:
    """What the handoff service needs, built once by the composition root."""

    engine: Engine
    # The clock (UTC-aware); the composition root passes the wall clock, tests their own.
    now: Callable[[], datetime]
    config: HandoffConfig = field(default_factory=HandoffConfig)
    context_config: ContextConfig = field(default_factory=ContextConfig)
    model: StructuredChatModel | None = None
    targets: dict[str, Target] = field(default_factory=dict)


# --- creating handoffs -------------------------------------------------------------------------------------------


def pending_requests(engine: Engine, *, limit: int = 100) -> list[int]:
    """Escalations that have no handoff yet (new ones, or ones a crash interrupted) whose conversation still waits."""
    with Session(engine) as session:
        done = select(Handoff.request_id)
        rows = session.exec(
            select(HandoffRequest.id)
            .join(Conversation, col(Conversation.id) == col(HandoffRequest.conversation_id))
            .where(col(HandoffRequest.id).not_in(done), Conversation.state == "handoff")
            .order_by(col(HandoffRequest.id))
            .limit(limit)
        ).all()
        return [int(r) for r in rows if r is not None]


def create_handoff(deps: HandoffDeps, *, request_id: int) -> int:
    """Write the summary of one escalation and store it with its outbox rows; returns the handoff id.

    Idempotent: a second call for the same request returns the existing handoff.
    """
    existing = _handoff_of_request(deps.engine, request_id)
    if existing is not None:
        return existing
    inputs = gather_inputs(
        engine=deps.engine,
        request_id=request_id,
        context_config=deps.context_config,
        transcript_base_url=deps.config.transcript_base_url,
        now=deps.now(),
    )
    summary = write_summary(
        inputs,
        model=deps.model,
        priority=deps.config.priority,
        deadline_s=deps.config.summary_deadline_s,
        max_prompt_tokens=deps.config.summary_transcript_tokens,
        now=deps.now(),
    )
    req = inputs.request
    now = deps.now()
    try:
        with Session(deps.engine) as session:
            handoff = Handoff(
                request_id=request_id,
                conversation_id=req.conversation_id,
                created_at=now,
                updated_at=now,
                priority=summary.priority.level,
                priority_rank=PRIORITY_RANK[summary.priority.level],
                reason_code=req.reason_code,
                team=req.team,
                customer_id=req.customer_id if req.verified else None,
                verified=req.verified,
                headline=summary.headline,
                written_by=summary.written_by,
                summary=summary.model_dump(mode="json"),
            )
            session.add(handoff)
            session.flush()
            # The link opens this handoff in the inbox (its id is known only now).
            summary.transcript_url = f"{deps.config.transcript_base_url.rstrip('/')}/inbox?handoff={handoff.id}"
            handoff.summary = summary.model_dump(mode="json")
            session.add(HandoffStateChange(handoff_id=int(handoff.id or 0), to_state="open", actor="bot", at=now))
            outbox.enqueue(session, handoff, deps.config.targets, now=now)
            session.commit()
            hid = int(handoff.id or 0)
    except IntegrityError:  # another worker stored it first
        found = _handoff_of_request(deps.engine, request_id)
        if found is None:
            raise
        return found
    log.info(
        "handoff %d created for request %d (%s, %s, %d target(s))",
        hid,
        request_id,
        summary.priority.level,
        summary.written_by,
        len(deps.config.targets),
    )
    return hid


def _handoff_of_request(engine: Engine, request_id: int) -> int | None:
    with Session(engine) as session:
        found = session.exec(select(Handoff.id).where(Handoff.request_id == request_id)).first()
        return int(found) if found is not None else None


def create_pending(deps: HandoffDeps) -> list[int]:
    """Create the handoffs of new escalations (never waits on a delivery); returns their ids."""
    created = []
    for request_id in pending_requests(deps.engine):
        try:
            created.append(create_handoff(deps, request_id=request_id))
        except Exception:  # one bad request must not stop the others; it is retried on the next pass
            log.exception("handoff for request %d failed; will retry", request_id)
    return created


def run_once(deps: HandoffDeps) -> dict[str, Any]:
    """One foreground pass: create handoffs for new escalations, then attempt every delivery that is due.

    Deliveries are attempted until none is due now (each failure schedules its retry with a backoff); retries
    due later are left for the next pass or the worker.
    """
    created = create_pending(deps)
    outcomes: dict[int, outbox.DeliveryOutcome] = {}
    for _ in range(deps.config.retry.attempts + 1):
        batch = outbox.deliver_due(deps.engine, targets=deps.targets, retry=deps.config.retry, clock=deps.now)
        outcomes.update({o.delivery_id: o for o in batch})
        if not batch:
            break
    return {
        "created": created,
        "delivered": [i for i, o in outcomes.items() if o.status == "delivered"],
        "dead": [i for i, o in outcomes.items() if o.status == "dead"],
    }


# --- the inbox ---------------------------------------------------------------------------------------------------

_TRANSITIONS = {
    "claim": {"open", "claimed"},
    "resolved": {"open", "claimed"},
    "returned_to_bot": {"open", "claimed"},
}
#: The conversation's state for each handoff state: the bot stays silent while a person may answer.
CONVERSATION_STATE: dict[str, ConversationState] = {
    "open": "handoff",
    "claimed": "handoff",
    "resolved": "closed",
    "returned_to_bot": "bot",
}


def _move(session: Session, handoff: Handoff, to: str, actor: str, at: datetime) -> None:
    """Move the handoff AND its conversation (one transaction: the caller commits)."""
    set_conversation_state(session, conversation_id=handoff.conversation_id, state=CONVERSATION_STATE[to], now=at)
    session.add(
        HandoffStateChange(handoff_id=int(handoff.id or 0), from_state=handoff.status, to_state=to, actor=actor, at=at)
    )
    if to == "claimed":
        handoff.claimed_by, handoff.claimed_at = actor, at
    elif to in ("resolved", "returned_to_bot"):
        handoff.closed_by, handoff.closed_at = actor, at
    handoff.status, handoff.updated_at = to, at
    session.add(handoff)


def _get(session: Session, handoff_id: int) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound("handoff", handoff_id)
    return handoff


def list_handoffs(
    *,
    engine: Engine,
    status: list[str] | None = None,
    priority: list[str] | None = None,
    reason: list[str] | None = None,
    min_age_minutes: float | None = None,
    max_age_minutes: float | None = None,
    now: datetime,
    limit: int = 100,
) -> list[HandoffListItem]:
    """Handoffs by priority (urgent first), then oldest first, filtered by status, priority, reason and age."""
    with Session(engine) as session:
        query = select(Handoff).order_by(col(Handoff.priority_rank), col(Handoff.created_at)).limit(limit)
        if status:
            query = query.where(col(Handoff.status).in_(status))
        if priority:
            query = query.where(col(Handoff.priority).in_(priority))
        if reason:
            query = query.where(col(Handoff.reason_code).in_(reason))
        if min_age_minutes is not None:
            query = query.where(col(Handoff.created_at) <= now - timedelta(minutes=min_age_minutes))
        if max_age_minutes is not None:
            query = query.where(col(Handoff.created_at) >= now - timedelta(minutes=max_age_minutes))
        return [
            HandoffListItem(
                id=int(h.id or 0),
                conversation_id=h.conversation_id,
                created_at=h.created_at,
                age_minutes=round((now - h.created_at).total_seconds() / 60, 1),
                status=h.status,
                priority=h.priority,
                reason_code=h.reason_code,
                team=h.team,
                verified=h.verified,
                customer_id=h.customer_id,
                headline=h.headline,
                claimed_by=h.claimed_by,
            )
            for h in session.exec(query)
        ]


def get_handoff(*, engine: Engine, handoff_id: int) -> HandoffPublic:
    """One handoff with its summary (and renderings), state history, notes and deliveries."""
    with Session(engine) as session:
        h = _get(session, handoff_id)
        history = session.exec(
            select(HandoffStateChange)
            .where(HandoffStateChange.handoff_id == handoff_id)
            .order_by(col(HandoffStateChange.id))
        ).all()
        notes = session.exec(
            select(HandoffNote).where(HandoffNote.handoff_id == handoff_id).order_by(col(HandoffNote.id))
        ).all()
        summary = HandoffSummary.model_validate(h.summary)
        public = HandoffPublic(
            id=int(h.id or 0),
            request_id=h.request_id,
            conversation_id=h.conversation_id,
            created_at=h.created_at,
            updated_at=h.updated_at,
            status=h.status,
            priority=h.priority,
            reason_code=h.reason_code,
            team=h.team,
            verified=h.verified,
            customer_id=h.customer_id,
            claimed_by=h.claimed_by,
            claimed_at=h.claimed_at,
            closed_by=h.closed_by,
            closed_at=h.closed_at,
            summary=summary,
            summary_text=render_text(summary),
            summary_markdown=render_markdown(summary),
            history=[
                StateChangePublic(from_state=s.from_state, to_state=s.to_state, actor=s.actor, at=s.at) for s in history
            ],
            notes=[NotePublic(id=int(n.id or 0), author=n.author, body=n.body, created_at=n.created_at) for n in notes],
            deliveries=[],
        )
    public.deliveries = outbox.list_deliveries(engine, handoff_id=handoff_id)
    return public


def claim(*, engine: Engine, handoff_id: int, actor: str, now: datetime, take_over: bool = False) -> HandoffPublic:
    """Take a handoff. Claiming one someone else holds needs `take_over` (and is recorded)."""
    with Session(engine) as session:
        h = _get(session, handoff_id)
        if h.status not in _TRANSITIONS["claim"]:
            raise InboxStateError(f"handoff {handoff_id} is {h.status}; only open or claimed handoffs can be claimed")
        if h.status == "claimed" and h.claimed_by != actor and not take_over:
            raise InboxStateError(f"handoff {handoff_id} is claimed by {h.claimed_by}; use take_over to take it")
        if not (h.status == "claimed" and h.claimed_by == actor):
            _move(session, h, "claimed", actor, now)
        session.commit()
    return get_handoff(engine=engine, handoff_id=handoff_id)


def reply(*, engine: Engine, handoff_id: int, actor: str, message: str, now: datetime) -> HandoffPublic:
    """Send the customer a message as `actor`; it appears in the conversation (and the widget). Claims if open."""
    with Session(engine) as session:
        h = _get(session, handoff_id)
        if h.status not in ("open", "claimed"):
            raise InboxStateError(f"handoff {handoff_id} is {h.status}: the conversation is no longer with a person")
        if h.status == "claimed" and h.claimed_by != actor:
            raise InboxStateError(f"handoff {handoff_id} is claimed by {h.claimed_by}; claim it first to reply")
        if h.status == "open":
            _move(session, h, "claimed", actor, now)
        post_human_message(session, conversation_id=h.conversation_id, content=message, author=actor, now=now)
        h.updated_at = now
        session.add(h)
        session.commit()
    return get_handoff(engine=engine, handoff_id=handoff_id)


def add_note(*, engine: Engine, handoff_id: int, actor: str, body: str, now: datetime) -> HandoffPublic:
    """An internal note (never shown to the customer), allowed in every state."""
    with Session(engine) as session:
        _get(session, handoff_id)
        session.add(HandoffNote(handoff_id=handoff_id, author=actor, body=body, created_at=now))
        session.commit()
    return get_handoff(engine=engine, handoff_id=handoff_id)


def close(
    *, engine: Engine, handoff_id: int, actor: str, to: str, now: datetime, message: str | None = None
) -> HandoffPublic:
    """Resolve (`to="resolved"`) or hand the conversation back to the bot (`"returned_to_bot"`)."""
    if to not in ("resolved", "returned_to_bot"):
        raise InboxStateError(f"unknown state {to!r}; use resolved or returned_to_bot")
    with Session(engine) as session:
        h = _get(session, handoff_id)
        if h.status not in _TRANSITIONS[to]:
            raise InboxStateError(f"handoff {handoff_id} is already {h.status}")
        if h.status == "claimed" and h.claimed_by != actor:
            raise InboxStateError(f"handoff {handoff_id} is claimed by {h.claimed_by}; claim it first")
        if message:
            post_human_message(session, conversation_id=h.conversation_id, content=message, author=actor, now=now)
        _move(session, h, to, actor, now)
        session.commit()
    return get_handoff(engine=engine, handoff_id=handoff_id)


def close_conversation(
    deps: HandoffDeps, *, conversation_id: str, actor: str, to: str, message: str | None = None
) -> TranscriptPublic:
    """Resolve or hand back from the conversation's side: the same move as the inbox's, on its open handoff.

    An escalation the worker has not turned into a handoff yet gets it now, so both sides always agree.
    """
    with Session(deps.engine) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            get_transcript(engine=deps.engine, conversation_id=conversation_id)  # raises the agent's 404
        request_id = session.exec(
            select(HandoffRequest.id)
            .where(HandoffRequest.conversation_id == conversation_id)
            .order_by(col(HandoffRequest.id).desc())
        ).first()
        waiting = conv is not None and conv.state == "handoff"
    if request_id is None or not waiting:
        raise InboxStateError(f"conversation {conversation_id} has no open handoff")
    handoff_id = create_handoff(deps, request_id=int(request_id))
    close(engine=deps.engine, handoff_id=handoff_id, actor=actor, to=to, now=deps.now(), message=message)
    return get_transcript(engine=deps.engine, conversation_id=conversation_id)
