"""HTTP routes of the chat (the widget's API) and the plain demo page.

The composition root puts an `AgentDeps` on `app.state.agent`, read by `agent.deps.AgentDepsDep`. Widget routes
are public (the conversation id is an unguessable bearer token; only a signed identity unlocks a customer's data);
the human-side routes (turn metadata, escalations) are server-to-server, behind the X-API-Key header. Resolving and
handing back are the handoff package's (`handoff/api.py`, also under `/v1/conversations/{id}/…`): one lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from agent import events, service
from agent.deps import AgentDepsDep, ClientIp
from agent.errors import WidgetTokenError
from agent.models import (
    ConversationCreate,
    ConversationPublic,
    EventPublic,
    EventsPublic,
    HandoffRequestPublic,
    MessageCreate,
    TranscriptPublic,
    TurnAccepted,
    TurnPublic,
    TurnReply,
)
from agent.service import AgentDeps
from agent.widget_api import OptionalWidgetDepsDep, conversation_of_token

PAGE = Path(__file__).with_name("static") / "index.html"


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such conversation."}}


router = APIRouter(prefix="/v1/conversations", tags=["chat"])
human_router = APIRouter(prefix="/v1", tags=["chat: human side"])
page_router = APIRouter(tags=["demo page"])


@router.post("", status_code=201, responses={429: {"description": "Too many new conversations from this address."}})
def create_conversation(deps: AgentDepsDep, ip: ClientIp, body: ConversationCreate) -> ConversationPublic:
    """Start a conversation. Send an `identity_token` (HS256 JWT: sub, optional email, exp; kid) or `user_id` /
    `email` with its `user_hash` (`v2=` HMAC over kind + value, docs/agent.md) to be recognised as a customer;
    without a valid signature the conversation is an anonymous visitor's."""
    return service.start_conversation(deps=deps, request=body, client_ip=ip)


async def conversation_access(
    agent: AgentDepsDep,
    widget_deps: OptionalWidgetDepsDep,
    conversation_id: str,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The one check of every customer-side route of one conversation; returns the conversation id.

    The unguessable id is the capability; a widget's short-lived conversation token (`Authorization: Bearer
    cdw1.…`, agent.widget_api) must be valid (401 otherwise) and name this very conversation.
    """
    if not authorization or widget_deps is None:
        return conversation_id
    granted = conversation_of_token(widget_deps, agent, authorization)
    if granted is not None and granted != conversation_id:
        raise WidgetTokenError("this conversation token is for another conversation")
    return conversation_id


Access = Annotated[str, Depends(conversation_access)]
#: How often an open event stream looks for new events in the log (written by any process).
POLL_S = 0.05
#: Keep-alive comment pings on an idle stream.
PING_S = 15

_SSE_DOC = {
    200: {
        "description": "The reply as JSON (TurnReply), or with `Accept: text/event-stream` the conversation's events "
        "from this message on (`message`, `sentence`…, `turn_done`; same format as GET /events), ending with the "
        "turn.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    202: {"description": "With `Prefer: respond-async`: the message is stored; follow the turn on GET /events."},
    404: {"description": "No such conversation."},
    409: {
        "description": "A retry (same `client_message_id`) of a stored message whose turn has not finished: "
        "nothing was stored; retry after Retry-After."
    },
    413: {"description": "Message too long."},
    429: {"description": "Too many messages per minute (conversation or address); see Retry-After."},
    503: {"description": "The database stayed locked; the message was not taken. Retry after Retry-After."},
}
_TERMINAL = {"turn_done", "turn_stopped"}


def _sse(event: EventPublic) -> ServerSentEvent:
    return ServerSentEvent(id=str(event.seq), event=event.kind, data=json.dumps(event.data, default=str))


async def _tail(deps: AgentDeps, conversation_id: str, after: int, until_turn: str | None) -> AsyncIterator[Any]:
    """Events after `after`, then live ones as they are logged; with `until_turn`, ends with that turn."""
    last = after
    while True:
        batch = await anyio.to_thread.run_sync(_page, deps, conversation_id, last)
        for event in batch:
            last = event.seq
            yield _sse(event)
            if until_turn and event.kind in _TERMINAL and _turn_of(event) == until_turn:
                return
        if not batch:
            await anyio.sleep(POLL_S)


def _page(deps: AgentDeps, conversation_id: str, after: int) -> list[EventPublic]:
    return events.list_events(engine=deps.engine, conversation_id=conversation_id, after=after)


def _turn_of(event: EventPublic) -> str | None:
    data = event.data
    return str(data.get("turn_key") or data.get("turn_id") or "") or None


@router.post("/{conversation_id}/messages", response_model=TurnReply, responses=_SSE_DOC)  # type: ignore[arg-type]
async def post_message(
    deps: AgentDepsDep,
    ip: ClientIp,
    conversation_id: Access,
    body: MessageCreate,
    accept: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> Any:
    """Send a customer message; get the reply with citations, route, escalation decision and state.

    With a `client_message_id` a retry is safe: the same id again answers the stored message's turn (its reply,
    its accepted turn, or its events) without storing anything, and 409 while that turn is still running.
    """
    streaming = bool(accept and "text/event-stream" in accept)
    client_id = body.client_message_id
    if streaming or (prefer and "respond-async" in prefer):
        # Store the message before answering (limits, 404, 503 are plain HTTP statuses); the turn then runs on
        # its own, whatever the client does.
        arrival, _ = await anyio.to_thread.run_sync(
            lambda: service.start_turn(
                deps=deps,
                conversation_id=conversation_id,
                content=body.content,
                client_ip=ip,
                client_message_id=client_id,
            )
        )
        if not streaming:
            accepted = TurnAccepted(turn_id=arrival.key, message_seq=arrival.message_seq)
            return JSONResponse(accepted.model_dump(), status_code=202)
        return EventSourceResponse(_tail(deps, conversation_id, arrival.message_seq - 1, arrival.key), ping=PING_S)
    reply = await anyio.to_thread.run_sync(
        lambda: service.handle_message(
            deps=deps, conversation_id=conversation_id, content=body.content, client_ip=ip, client_message_id=client_id
        ),
        limiter=_turn_limiter(deps),
    )
    # The same bytes FastAPI would send for the response model, without validating the reply again and encoding
    # it twice on the event loop (~0.3 ms a turn).
    return Response(reply.model_dump_json(), media_type="application/json")


def _turn_limiter(deps: AgentDeps) -> anyio.CapacityLimiter | None:
    """The limit of turns this process runs at once (`deps.turn_threads`); None: the thread pool's default.

    Turns over the limit wait in the event loop, first come first served, each without a thread.
    """
    if deps.turn_threads <= 0:
        return None
    if deps.turn_limiter is None:  # made on first use, inside the event loop it belongs to
        deps.turn_limiter = anyio.CapacityLimiter(deps.turn_threads)
    limiter: anyio.CapacityLimiter = deps.turn_limiter
    return limiter


_EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (`id: seq`, `event: kind`, `data: json`), replayed after Last-Event-ID "
        "(or `after`) then live, with keep-alive pings; with `format=json` the REST catch-up (EventsPublic).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    404: {"description": "No such conversation."},
}


@router.get("/{conversation_id}/events", responses=_EVENTS_DOC)
async def get_events(
    deps: AgentDepsDep,
    conversation_id: Access,
    after: Annotated[int, Query(ge=0, description="Replay events with a seq above this one.")] = 0,
    format: Annotated[str | None, Query(pattern="^(json|sse)$", description="json: one catch-up page.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """The conversation's numbered events: a live stream (SSE) that resumes after Last-Event-ID, or a JSON page."""
    if last_event_id and last_event_id.strip().isdigit():
        after = max(after, int(last_event_id.strip()))
    page = await anyio.to_thread.run_sync(
        lambda: events.list_events(engine=deps.engine, conversation_id=conversation_id, after=after)
    )  # also the 404 before a stream opens
    if format == "json":
        return EventsPublic(events=page)
    return EventSourceResponse(_tail(deps, conversation_id, after, None), ping=PING_S)


@router.get("/{conversation_id}/events.json", responses=_NOT_FOUND)
def get_events_json(
    deps: AgentDepsDep, conversation_id: Access, after: Annotated[int, Query(ge=0)] = 0
) -> EventsPublic:
    """REST catch-up: the events with a seq above `after` (a page of at most 500; ask again from the last seq)."""
    return EventsPublic(events=events.list_events(engine=deps.engine, conversation_id=conversation_id, after=after))


@router.post("/{conversation_id}/stop", responses=_NOT_FOUND)
def stop_turn(deps: AgentDepsDep, conversation_id: Access) -> dict[str, str | None]:
    """Stop the bot's current turn after the sentence it is on (what was sent stays); `turn_id` null if none."""
    return {"turn_id": service.request_stop(engine=deps.engine, conversation_id=conversation_id)}


@router.get("/{conversation_id}", responses=_NOT_FOUND)
def get_conversation(deps: AgentDepsDep, conversation_id: Access) -> TranscriptPublic:
    """The transcript: the conversation and its messages, oldest first."""
    return service.get_transcript(engine=deps.engine, conversation_id=conversation_id)


@human_router.get("/conversations/{conversation_id}/turns", responses=_NOT_FOUND)
def get_turns(deps: AgentDepsDep, conversation_id: str) -> list[TurnPublic]:
    """What went into each reply: route, context snapshot, passages, prompt, model, tokens, escalation."""
    return service.list_turns(engine=deps.engine, conversation_id=conversation_id)


@human_router.get("/handoff-requests")
def get_handoff_requests(deps: AgentDepsDep) -> list[HandoffRequestPublic]:
    """Escalations as the turns recorded them, newest first (their handling is `GET /v1/handoffs`)."""
    return service.list_handoff_requests(engine=deps.engine)


@page_router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page() -> Response:
    """The plain demo chat page."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
