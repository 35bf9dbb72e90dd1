"""HTTP routes of the agent inbox (behind X-API-Key) and the plain `/inbox` page.

The composition root puts a `HandoffDeps` on `app.state.handoff`, read by `handoff.deps.HandoffDepsDep`. The page
itself holds no data: it asks for the API key and calls these routes with it, so nothing leaks to someone without
the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from agent.models import TranscriptPublic
from handoff import outbox, service
from handoff.deps import HandoffDepsDep, HandoffWorkerDep
from handoff.models import (
    ClaimBody,
    CloseBody,
    DeliveryPublic,
    HandoffListItem,
    HandoffPublic,
    HandoffState,
    HandoffSummary,
    NoteBody,
    Priority,
    ReplyBody,
)

PAGE = Path(__file__).with_name("static") / "inbox.html"

#: Ids are INTEGER keys (32-bit in PostgreSQL): a bigger number is a 422, never an overflow in the database.
MAX_ID = 2**31 - 1
HandoffId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
DeliveryId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
#: Age filters stop at 100 years: further back than that is no filter at all, and beyond dates overflow.
AgeMinutes = Annotated[float | None, Query(ge=0, le=100 * 365 * 24 * 60, allow_inf_nan=False)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such handoff."}}
_STATE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such handoff."},
    409: {"description": "The action does not fit the handoff's state (or who claimed it)."},
}

router = APIRouter(prefix="/v1", tags=["handoff inbox"])
page_router = APIRouter(tags=["handoff inbox"])


@router.get("/handoffs")
def list_handoffs(
    deps: HandoffDepsDep,
    status: Annotated[list[HandoffState] | None, Query(description="open, claimed, resolved, returned_to_bot")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    reason: Annotated[list[str] | None, Query(description="Reason codes, e.g. customer_request.")] = None,
    min_age_minutes: AgeMinutes = None,
    max_age_minutes: AgeMinutes = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HandoffListItem]:
    """Handoffs, urgent first then oldest first, filtered by status, priority, reason and age."""
    return service.list_handoffs(
        engine=deps.engine,
        status=list(status) if status else None,
        priority=list(priority) if priority else None,
        reason=reason,
        min_age_minutes=min_age_minutes,
        max_age_minutes=max_age_minutes,
        limit=limit,
        now=deps.now(),
    )


@router.get("/handoffs/summary-schema", response_model=dict[str, Any])
def summary_schema() -> dict[str, Any]:
    """The versioned JSON schema of HandoffSummary (what webhook receivers get in `summary`)."""
    return HandoffSummary.model_json_schema()


@router.get("/handoffs/{handoff_id}", responses=_NOT_FOUND)
def get_handoff(deps: HandoffDepsDep, handoff_id: HandoffId) -> HandoffPublic:
    """One handoff: summary (with text and markdown renderings), state history, notes, deliveries."""
    return service.get_handoff(engine=deps.engine, handoff_id=handoff_id)


@router.post("/handoffs/{handoff_id}/claim", responses=_STATE)
def claim(deps: HandoffDepsDep, handoff_id: HandoffId, body: ClaimBody) -> HandoffPublic:
    """Take the handoff (open → claimed)."""
    return service.claim(
        engine=deps.engine,
        handoff_id=handoff_id,
        actor=body.actor,
        take_over=body.take_over,
        now=deps.now(),
    )


@router.post("/handoffs/{handoff_id}/reply", responses=_STATE)
def reply(deps: HandoffDepsDep, handoff_id: HandoffId, body: ReplyBody) -> HandoffPublic:
    """Message the customer; it appears in the conversation (GET /v1/conversations/{id}) as the person's."""
    return service.reply(
        engine=deps.engine, handoff_id=handoff_id, actor=body.actor, message=body.message, now=deps.now()
    )


@router.post("/handoffs/{handoff_id}/notes", responses=_STATE)
def add_note(deps: HandoffDepsDep, handoff_id: HandoffId, body: NoteBody) -> HandoffPublic:
    """An internal note, never shown to the customer."""
    return service.add_note(engine=deps.engine, handoff_id=handoff_id, actor=body.actor, body=body.body, now=deps.now())


@router.post("/handoffs/{handoff_id}/resolve", responses=_STATE)
def resolve(deps: HandoffDepsDep, handoff_id: HandoffId, body: CloseBody) -> HandoffPublic:
    """Resolve the handoff (the conversation closes; a new customer message reopens it with the bot)."""
    return service.close(
        engine=deps.engine, handoff_id=handoff_id, actor=body.actor, to="resolved", message=body.message, now=deps.now()
    )


@router.post("/handoffs/{handoff_id}/hand-back", responses=_STATE)
def hand_back(deps: HandoffDepsDep, handoff_id: HandoffId, body: CloseBody) -> HandoffPublic:
    """Hand the conversation back to the bot, which answers again."""
    return service.close(
        engine=deps.engine,
        handoff_id=handoff_id,
        actor=body.actor,
        to="returned_to_bot",
        message=body.message,
        now=deps.now(),
    )


_CONVERSATION_STATE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such conversation."},
    409: {"description": "The conversation has no open handoff (or it is claimed by someone else)."},
}


@router.post("/conversations/{conversation_id}/resolve", responses=_CONVERSATION_STATE, tags=["chat: human side"])
def resolve_conversation(deps: HandoffDepsDep, conversation_id: str, body: CloseBody) -> TranscriptPublic:
    """Resolve the conversation's open handoff (the same move as `POST /v1/handoffs/{id}/resolve`)."""
    return service.close_conversation(
        deps, conversation_id=conversation_id, actor=body.actor, to="resolved", message=body.message
    )


@router.post("/conversations/{conversation_id}/hand-back", responses=_CONVERSATION_STATE, tags=["chat: human side"])
def hand_back_conversation(deps: HandoffDepsDep, conversation_id: str, body: CloseBody) -> TranscriptPublic:
    """Hand the conversation back to the bot (the same move as `POST /v1/handoffs/{id}/hand-back`)."""
    return service.close_conversation(
        deps, conversation_id=conversation_id, actor=body.actor, to="returned_to_bot", message=body.message
    )


@router.get("/handoff-deliveries")
def list_deliveries(
    deps: HandoffDepsDep,
    status: Annotated[str | None, Query(description="pending, delivering, delivered, dead (dead letters)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeliveryPublic]:
    """Outbox rows with their attempts."""
    return outbox.list_deliveries(deps.engine, status=status, limit=limit)


@router.post(
    "/handoff-deliveries/{delivery_id}/retry",
    responses={
        404: {"description": "No such delivery."},
        409: {"description": "The delivery is not dead-lettered: nothing to retry."},
    },
)
def retry_delivery(deps: HandoffDepsDep, worker: HandoffWorkerDep, delivery_id: DeliveryId) -> list[int]:
    """Send a dead-lettered delivery again (the worker picks it up at once)."""
    ids = outbox.retry_dead(deps.engine, delivery_id=delivery_id, actor="api", now=deps.now())
    if worker is not None:
        worker.notify()
    return ids


@page_router.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
def inbox_page() -> Response:
    """The plain inbox page (it holds no data; it asks for the API key and calls the API)."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})
