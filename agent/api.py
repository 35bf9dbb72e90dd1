"""HTTP routes of the chat (the widget's API) and the plain demo page.

The composition root puts an `AgentDeps` on `app.state.agent`. Widget routes are public (the conversation
id is an unguessable bearer token; only a signed identity unlocks a customer's data); the human-side routes
(turn metadata, escalations) are server-to-server, behind the X-API-Key header. Resolving and handing back are
the handoff package's (`handoff/api.py`, also under `/v1/conversations/{id}/…`): one lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from agent import service
from agent.models import (
    ConversationCreate,
    ConversationPublic,
    HandoffRequestPublic,
    MessageCreate,
    TranscriptPublic,
    TurnPublic,
    TurnReply,
)
from agent.service import AgentDeps

PAGE = Path(__file__).with_name("static") / "index.html"


def _deps(request: Request) -> AgentDeps:
    deps: AgentDeps = request.app.state.agent
    return deps


def _ip(request: Request) -> str:
    # The socket peer, or the client a trusted proxy named: the server decides (CONTEXTDESK_TRUSTED_PROXIES),
    # never a header the client sent straight to us.
    return request.client.host if request.client else "unknown"


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such conversation."}}


router = APIRouter(prefix="/v1/conversations", tags=["chat"])
human_router = APIRouter(prefix="/v1", tags=["chat: human side"])
page_router = APIRouter(tags=["demo page"])


@router.post("", status_code=201, responses={429: {"description": "Too many new conversations from this address."}})
def create_conversation(request: Request, body: ConversationCreate) -> ConversationPublic:
    """Start a conversation. Send an `identity_token` (HS256 JWT: sub, optional email, exp; kid) or `user_id` /
    `email` with its `user_hash` (`v2=` HMAC over kind + value, docs/agent.md) to be recognised as a customer;
    without a valid signature the conversation is an anonymous visitor's."""
    return service.start_conversation(deps=_deps(request), request=body, client_ip=_ip(request))


_SSE_DOC = {
    200: {
        "description": "The reply as JSON (TurnReply), or with `Accept: text/event-stream` a stream of `token` "
        'events (`{"text": …}`) and one final `final` event whose data is the TurnReply.',
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    404: {"description": "No such conversation."},
    413: {"description": "Message too long."},
    429: {"description": "Too many messages per minute (conversation or address); see Retry-After."},
}


@router.post("/{conversation_id}/messages", response_model=TurnReply, responses=_SSE_DOC)  # type: ignore[arg-type]
async def post_message(
    request: Request,
    conversation_id: str,
    body: MessageCreate,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Send a customer message; get the reply with citations, route, escalation decision and state."""
    deps = _deps(request)
    ip = _ip(request)
    if accept and "text/event-stream" in accept:
        # Run the turn (limits, 404…) before the stream opens so errors are plain HTTP statuses.
        events: Iterator[tuple[str, Any]] = await anyio.to_thread.run_sync(
            lambda: iter(
                list(
                    service.stream_message(
                        deps=deps, conversation_id=conversation_id, content=body.content, client_ip=ip
                    )
                )
            )
        )

        async def publish() -> AsyncIterator[ServerSentEvent]:
            for kind, payload in events:
                if kind == "token":
                    yield ServerSentEvent(data=json.dumps({"text": payload}), event="token")
                else:
                    yield ServerSentEvent(data=payload.model_dump_json(), event="final")

        return EventSourceResponse(publish(), ping=15)
    return await anyio.to_thread.run_sync(
        lambda: service.handle_message(deps=deps, conversation_id=conversation_id, content=body.content, client_ip=ip)
    )


@router.get("/{conversation_id}", responses=_NOT_FOUND)
def get_conversation(request: Request, conversation_id: str) -> TranscriptPublic:
    """The transcript: the conversation and its messages, oldest first."""
    return service.get_transcript(engine=_deps(request).engine, conversation_id=conversation_id)


@human_router.get("/conversations/{conversation_id}/turns", responses=_NOT_FOUND)
def get_turns(request: Request, conversation_id: str) -> list[TurnPublic]:
    """What went into each reply: route, context snapshot, passages, prompt, model, tokens, escalation."""
    return service.list_turns(engine=_deps(request).engine, conversation_id=conversation_id)


@human_router.get("/handoff-requests")
def get_handoff_requests(request: Request) -> list[HandoffRequestPublic]:
    """Escalations as the turns recorded them, newest first (their handling is `GET /v1/handoffs`)."""
    return service.list_handoff_requests(engine=_deps(request).engine)


@page_router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page() -> Response:
    """The plain demo chat page."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
