"""The composition root of the HTTP API: settings → engine → routers, error mapping, request guards, headers."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.api import PAGE as CHAT_PAGE
from agent.api import human_router as chat_human_router
from agent.api import page_router as chat_page_router
from agent.api import router as chat_router
from agent.service import AgentDeps
from agent.widget_api import WidgetDeps
from agent.widget_api import asset_router as widget_asset_router
from agent.widget_api import router as widget_router
from context.customer_context.api import router as customers_router
from context.customer_context.config import ContextConfig, load_context_config
from context.dbtypes import Clock
from contextdesk.api_docs import ASSETS_PREFIX, DOCS_CSP, install_docs
from contextdesk.auth import api_key_dependency
from contextdesk.clock import system_now
from contextdesk.db import is_up_to_date, make_engine, upgrade
from contextdesk.demo_routes import DemoPage
from contextdesk.demo_routes import router as demo_router
from contextdesk.http_errors import install_error_handlers, install_openapi
from contextdesk.http_security import (
    API_CSP,
    HeaderPolicy,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
    page_csp,
)
from contextdesk.settings import Settings, load_settings
from contextdesk.wiring import build_embedder
from handoff.api import PAGE as INBOX_PAGE
from handoff.api import page_router as inbox_page_router
from handoff.api import router as inbox_router
from handoff.service import HandoffDeps


def _embedder(settings: Settings) -> Any:
    """The configured embedder (kept under this name for the tests and benches that build one)."""
    return build_embedder(settings)


def _agent_deps(
    settings: Settings, engine: Engine, context_config: ContextConfig, *, clock: Clock = system_now
) -> AgentDeps:
    """The chat service's dependencies: agent config, knowledge store (if indexed), LLM (if configured)."""
    from agent.config import load_agent_config
    from agent.limits import build_rate_limiter
    from agent.llm.factory import build_chat_model

    store = None
    chroma = settings.resolved_chroma_path
    if settings.chroma_host or chroma.exists():
        from knowledge.store import open_store

        store = open_store(
            path=chroma,
            host=settings.chroma_host,
            port=settings.chroma_port,
            embedder=_embedder(settings),
            # Embedded, the revision read costs ~0.3 ms: every turn asks. A server costs a round trip.
            refresh_seconds=settings.chroma_refresh_seconds if settings.chroma_host else 0.0,
        )
    model = (
        build_chat_model(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            fallback_model=settings.llm_fallback_model,
            timeout_s=settings.llm_timeout_seconds,
        )
        if settings.llm_base_url
        else None
    )
    return AgentDeps(
        engine=engine,
        config=load_agent_config(settings.resolved_config_file),
        now=clock,
        context_config=context_config,
        store=store,
        model=model,
        identity_secret=settings.identity_secret,
        identity_token_keys=dict(settings.identity_jwt_keys),
        llm_deadline_s=settings.llm_timeout_seconds,
        turn_threads=settings.chat_turn_threads,
        limiter=build_rate_limiter(settings.redis_url),
    )


def _widget_deps(settings: Settings) -> WidgetDeps:
    """The widget's `widget:` config and token settings (a random token secret per process when unset)."""
    from agent.widget import load_widget_config

    deps = WidgetDeps(
        config=load_widget_config(settings.resolved_config_file),
        token_minutes=settings.widget_token_minutes,
        public_base_url=settings.public_base_url,
    )
    if settings.widget_token_secret is not None:
        deps.token_secret = settings.widget_token_secret
    return deps


def _handoff_deps(settings: Settings, engine: Engine, agent: AgentDeps) -> HandoffDeps:
    """The handoff service's dependencies: `handoff:` config + secrets from settings, targets, the agent's LLM."""
    from agent.llm.base import StructuredChatModel
    from handoff.config import load_handoff_config
    from handoff.delivery import build_targets

    config = load_handoff_config(settings.resolved_config_file).model_copy(
        update={
            "webhook_secret": settings.handoff_webhook_secret,
            "zendesk_token": settings.handoff_zendesk_token,
            # Links in summaries use the configured public URL, never the port we happen to bind.
            **(
                {"transcript_base_url": base}
                if (base := settings.handoff_transcript_base_url or settings.public_base_url)
                else {}
            ),
        }
    )
    model = agent.model if isinstance(agent.model, StructuredChatModel) else None
    return HandoffDeps(
        engine=engine,
        now=agent.now,
        config=config,
        context_config=agent.context_config,
        model=model,
        targets=build_targets(config, clock=agent.now),
    )


def _install_live(app: FastAPI, settings: Settings, engine: Engine, clock: Clock) -> None:
    """Webhooks (/v1/webhooks/{source}), pushes (/v1/push/{source}) and source health, with the inbox worker."""
    from context.live.api import LiveDeps, health_router, push_router
    from context.live.api import router as live_router
    from context.live.worker import InboxWorker
    from contextdesk.wiring import build_live_lookup, build_propagation

    propagation = build_propagation(settings, engine, clock=clock)
    lookup = build_live_lookup(settings, propagation)
    app.state.live = LiveDeps(
        propagation=propagation, worker=InboxWorker(propagation) if settings.webhook_worker else None, lookup=lookup
    )
    # The chat turn passes it to the context build: orders/subscriptions of `live:` sources are read now.
    app.state.agent.live_lookup = lookup
    app.include_router(live_router)
    app.include_router(health_router, dependencies=[api_key_dependency(settings.api_key)])
    app.include_router(push_router, dependencies=[api_key_dependency(settings.api_key)])


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The outbox worker resumes what a crash left (escalations without a handoff, undelivered rows) at start.
    worker = getattr(app.state, "handoff_worker", None)
    if worker is not None:
        worker.start()
    live = getattr(app.state, "live", None)
    if live is not None and live.worker is not None:
        live.worker.start()  # webhooks stored before a crash are processed first
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()
        if live is not None and live.worker is not None:
            live.worker.stop()
        if live is not None and live.lookup is not None:
            live.lookup.close()


API_DESCRIPTION = (
    "Customer context, chat and handoff inbox. Every error answers `ErrorBody` (`error`, `detail`, and `errors` "
    "for invalid fields). Text holding a NUL character or a lone UTF-16 surrogate is refused with 422 wherever "
    "it appears (no database stores it); bodies over the configured size get 413 before they are read."
)


def create_app(settings: Settings | None = None, *, demo: bool = False, clock: Clock = system_now) -> FastAPI:
    """The FastAPI app: a migrated database, customer and chat routes, error mapping.

    Every dependency is built here once and set on `app.state`, where the providers the routes declare
    (`agent.deps`, `handoff.deps`, `context.customer_context.deps`, …) read it (docs/architecture.md).

    `clock` is where every "now" of the app comes from (the wall clock; tests pass their own).
    `demo=True` serves signed demo identities to the demo page (never in production); without an identity
    secret configured it makes up a random one for the process.
    """
    settings = settings or load_settings()
    engine = make_engine(settings.resolved_database_url)
    if not is_up_to_date(engine):
        upgrade(engine)
    app = FastAPI(
        title="ContextDesk",
        version="0.1",
        description=API_DESCRIPTION,
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.context_config = load_context_config(settings.resolved_config_file)
    install_error_handlers(app)
    app.include_router(customers_router, dependencies=[api_key_dependency(settings.api_key)])
    if demo and settings.identity_secret is None:
        settings = settings.model_copy(update={"identity_secret": SecretStr(secrets.token_hex(32))})
    # The demo page's personas carry the loaded demo's dates: the folder `contextdesk demo run` wrote.
    app.state.demo = DemoPage(data_dir=settings.demo_dir) if demo else None
    app.state.agent = _agent_deps(settings, engine, app.state.context_config, clock=clock)
    app.include_router(chat_router)
    app.include_router(chat_human_router, dependencies=[api_key_dependency(settings.api_key)])
    app.include_router(chat_page_router)
    app.state.widget = _widget_deps(settings)
    app.include_router(widget_router)
    app.include_router(widget_asset_router)
    app.include_router(demo_router)
    app.state.handoff = _handoff_deps(settings, engine, app.state.agent)
    app.state.handoff_worker = None
    if settings.handoff_worker:
        from handoff.worker import OutboxWorker

        app.state.handoff_worker = OutboxWorker(app.state.handoff)
        app.state.agent.on_handoff = app.state.handoff_worker.notify
    app.include_router(inbox_router, dependencies=[api_key_dependency(settings.api_key)])
    app.include_router(inbox_page_router)
    _install_live(app, settings, engine, clock)
    install_docs(app)
    install_openapi(
        app,
        max_body_bytes=settings.max_request_body_bytes,
        string_limits={("MessageCreate", "content"): app.state.agent.config.limits.max_message_chars},
    )
    if settings.cors_origins:
        # Only the configured widget origins may call the API from a browser (no wildcard: see Settings).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Accept", "X-API-Key", "Authorization", "Last-Event-ID"],
        )
    # Outermost last: every response, refusals included, carries the security headers.
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, policies=header_policies(settings), default=API_POLICY)
    return app


#: Set by `contextdesk serve --demo --workers N` for its worker processes (each builds its app with worker_app).
WORKER_DEMO_ENV = "CONTEXTDESK_SERVE_DEMO"


def worker_app() -> FastAPI:
    """The app of one `contextdesk serve --workers N` process (uvicorn factory): settings from the environment."""
    from contextdesk.wiring import settle_startup_objects

    app = create_app(load_settings(), demo=os.environ.get(WORKER_DEMO_ENV) == "1")
    settle_startup_objects()
    return app


#: The API and anything not listed below: JSON only, never framed, never cached.
API_POLICY = HeaderPolicy(name="api", paths=("/*",), csp=API_CSP)


def header_policies(settings: Settings) -> list[HeaderPolicy]:
    """The route groups and their security headers (the first group whose paths match wins)."""
    return [
        # Our own pages: only their inline code (by hash), calls to this origin; they show private data.
        HeaderPolicy(
            name="pages",
            paths=("/", "/inbox"),
            csp=page_csp(page.read_text(encoding="utf-8") for page in (CHAT_PAGE, INBOX_PAGE)),
        ),
        # The API docs; their assets are pinned files, cacheable but revalidated.
        HeaderPolicy(name="docs", paths=("/docs", "/redoc", "/openapi.json"), csp=DOCS_CSP),
        HeaderPolicy(name="docs-assets", paths=(ASSETS_PREFIX + "/*",), csp=DOCS_CSP, cache_control="no-cache"),
        # The embeddable widget (a later issue adds its routes): the only group a site may frame.
        HeaderPolicy(
            name="widget",
            paths=("/widget", "/widget/*"),
            csp=page_csp(()),
            frame_ancestors=tuple(settings.frame_ancestors),
        ),
    ]
