"""HTTP routes of the embeddable widget: widget.js, its iframe, its config, and the identity → token exchange.

The composition root puts a `WidgetDeps` on `app.state.widget` (read by `WidgetDepsDep`). The iframe (served from
here, under our own strict CSP) exchanges the site's signed identity once for a short-lived conversation token
(agent/widget.py) and keeps it in memory; the host page only ever talks to the iframe through postMessage.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, SecretStr
from pydantic import Field as PField
from sqlmodel import Session

from agent import service, widget
from agent.deps import AgentDepsDep, ClientIp
from agent.errors import WidgetTokenError
from agent.models import Conversation, ConversationCreate
from agent.service import AgentDeps
from agent.visitor_identity import verify_identity
from context.appstate import wired

STATIC = Path(__file__).resolve().parents[1] / "contextdesk" / "static" / "widget"
_ASSETS = {"frame.js": "text/javascript", "frame.css": "text/css"}


@dataclass
class WidgetDeps:
    """The widget's config and token settings, built once by the composition root."""

    config: widget.WidgetConfig = field(default_factory=widget.WidgetConfig)
    # A random secret per process when none is configured: tokens and resume tickets then die with a restart.
    token_secret: SecretStr = field(default_factory=lambda: SecretStr(secrets.token_hex(32)))
    token_minutes: float = 30.0
    public_base_url: str | None = None


async def get_widget_deps(request: Request) -> WidgetDeps:
    """The widget's config and token settings (`app.state.widget`)."""
    deps: WidgetDeps = wired(request, "widget")
    return deps


async def get_optional_widget_deps(request: Request) -> WidgetDeps | None:
    """The widget's settings, or None in an app built without the widget (its tokens are then not accepted)."""
    deps: WidgetDeps | None = wired(request, "widget", optional=True)
    return deps


WidgetDepsDep = Annotated[WidgetDeps, Depends(get_widget_deps)]
OptionalWidgetDepsDep = Annotated[WidgetDeps | None, Depends(get_optional_widget_deps)]


def conversation_of_token(deps: WidgetDeps, agent: AgentDeps, authorization: str | None) -> str | None:
    """The conversation an `Authorization: Bearer cdw1.…` header grants (None: no widget token; 401: a bad one).

    The per-conversation dependency of the chat routes calls this to accept a widget token.
    """
    return widget.bearer_conversation(authorization, secret=deps.token_secret, now=agent.now())


router = APIRouter(prefix="/v1/widget", tags=["widget"])
asset_router = APIRouter(include_in_schema=False)


class WidgetConfigPublic(BaseModel):
    """What the widget shows: the business's look, the UI strings in the picked language, availability."""

    business_name: str
    color: str
    position: str
    language: str
    strings: dict[str, str]
    open_now: bool
    next_opening: str


@router.get("/config")
def get_config(
    deps: WidgetDepsDep,
    agent: AgentDepsDep,
    site: Annotated[str | None, Query(max_length=100)] = None,
    lang: Annotated[str | None, Query(max_length=200, description="Overrides Accept-Language.")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> WidgetConfigPublic:
    """The widget's look and strings for a site, in the browser's language, and whether people are at work."""
    look = deps.config.for_site(site)
    language = widget.pick_language(look, lang or accept_language)
    return WidgetConfigPublic(
        business_name=look.business_name,
        color=look.color,
        position=look.position,
        language=language,
        strings=widget.strings_for(look, language),
        **widget.availability(agent.config.business_hours, agent.now()),
    )


class Resume(BaseModel):
    """A conversation this browser had before, with the ticket it was given for it."""

    conversation_id: str = PField(max_length=32)
    ticket: str = PField(max_length=100)


class SessionCreate(ConversationCreate):
    """The site's signed identity (or nothing: a visitor), and the conversation to resume if any."""

    name: str | None = PField(None, max_length=120, description="Display name from the site (never trusted).")
    resume: Resume | None = None


class WidgetSession(BaseModel):
    """A conversation token for the iframe's memory, and what it needs to resume after a page load."""

    token: str
    expires_at: datetime
    conversation_id: str
    resume_ticket: str
    resumed: bool
    verified: bool
    state: str
    greeting: str | None = None


def _resumable(agent: AgentDeps, deps: WidgetDeps, body: SessionCreate) -> Conversation | None:
    """The conversation to resume: its ticket is right and the identity now given is the one it was started with."""
    if body.resume is None:
        return None
    if not widget.check_ticket(
        secret=deps.token_secret, conversation_id=body.resume.conversation_id, ticket=body.resume.ticket
    ):
        return None
    with Session(agent.engine) as session:
        conv = session.get(Conversation, body.resume.conversation_id)
    if conv is None:
        return None
    ident = verify_identity(
        engine=agent.engine,
        secret=agent.identity_secret,
        now=agent.now(),
        binding=agent.config.identity,
        token_keys=agent.identity_token_keys,
        user_id=body.user_id,
        email=body.email,
        user_hash=body.user_hash,
        identity_token=body.identity_token,
    )
    # A visitor's conversation is not resumed into a signed-in session (or the other way), nor another customer's.
    if ident.verified != conv.verified or ident.customer_id != conv.customer_id:
        return None
    return conv


def _session(deps: WidgetDeps, now: datetime, conversation_id: str, **rest: Any) -> WidgetSession:
    token, expires = widget.issue_token(
        secret=deps.token_secret, conversation_id=conversation_id, now=now, minutes=deps.token_minutes
    )
    return WidgetSession(
        token=token,
        expires_at=expires,
        conversation_id=conversation_id,
        resume_ticket=widget.resume_ticket(secret=deps.token_secret, conversation_id=conversation_id),
        **rest,
    )


@router.post("/session", status_code=201, responses={429: {"description": "Too many new conversations."}})
def create_session(agent: AgentDepsDep, deps: WidgetDepsDep, ip: ClientIp, body: SessionCreate) -> WidgetSession:
    """Exchange the site's signed identity for a conversation token (resuming this browser's conversation when
    its ticket and identity fit); a forged or missing signature gets a visitor's conversation."""
    conv = _resumable(agent, deps, body)
    if conv is not None:
        return _session(
            deps, agent.now(), conv.id, resumed=True, verified=conv.verified, state=conv.state, greeting=None
        )
    started = service.start_conversation(
        deps=agent,
        request=ConversationCreate.model_validate(body.model_dump(exclude={"name", "resume"})),
        client_ip=ip,
    )
    return _session(
        deps,
        agent.now(),
        started.id,
        resumed=False,
        verified=started.verified,
        state=started.state,
        greeting=started.greeting,
    )


@router.post("/session/refresh", responses={401: {"description": "Missing, forged or expired widget token."}})
def refresh_session(
    agent: AgentDepsDep, deps: WidgetDepsDep, authorization: Annotated[str | None, Header()] = None
) -> WidgetSession:
    """A fresh token for the conversation of a still-valid one (the iframe refreshes before expiry)."""
    conversation_id = conversation_of_token(deps, agent, authorization)
    if conversation_id is None:
        raise WidgetTokenError("send Authorization: Bearer cdw1.…")
    with Session(agent.engine) as session:
        conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise WidgetTokenError("the token's conversation no longer exists")
    return _session(deps, agent.now(), conv.id, resumed=True, verified=conv.verified, state=conv.state)


@asset_router.get("/widget.js")
def widget_js() -> Response:
    """The one script a site adds (loads the launcher and the iframe)."""
    return FileResponse(STATIC / "widget.js", media_type="text/javascript")


@asset_router.get("/widget/frame")
def widget_frame() -> Response:
    """The chat panel, framed by the site (our strict CSP; only configured origins may frame it)."""
    return FileResponse(STATIC / "frame.html", media_type="text/html")


@asset_router.get("/widget/assets/{name}")
def widget_asset(name: str) -> Response:
    """The frame's script and stylesheet (no inline code anywhere)."""
    if name not in _ASSETS:
        return Response(status_code=404)
    return FileResponse(STATIC / name, media_type=_ASSETS[name])
