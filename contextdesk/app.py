"""The composition root of the HTTP API: settings → engine → routers, and one exception-to-HTTP mapping."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.api import human_router as chat_human_router
from agent.api import page_router as chat_page_router
from agent.api import router as chat_router
from agent.errors import AgentError, ChatLimitError, ConversationNotFound, HandoffStateError, RateLimited
from agent.service import AgentDeps
from context.customer_context.api import router as customers_router
from context.customer_context.config import ContextConfig, load_context_config
from context.errors import ConfigError, ContextError, NotFoundError
from context.identity.errors import UnknownCustomerError
from contextdesk.db import is_up_to_date, make_engine, upgrade
from contextdesk.settings import Settings, load_settings
from handoff.api import handoff_error_handler
from handoff.api import page_router as inbox_page_router
from handoff.api import router as inbox_router
from handoff.errors import HandoffError
from handoff.service import HandoffDeps


def _status_of(exc: ContextError) -> int:
    if isinstance(exc, NotFoundError | UnknownCustomerError):
        return 404
    if isinstance(exc, ValueError):  # bad input, e.g. a lookup without usable criteria
        return 422
    if isinstance(exc, ConfigError):
        return 500
    return 400


async def _context_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ContextError)
    return JSONResponse(status_code=_status_of(exc), content={"detail": str(exc), "error": type(exc).__name__})


async def _agent_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentError)
    status, headers = 500, {}
    if isinstance(exc, ConversationNotFound):
        status = 404
    elif isinstance(exc, HandoffStateError):
        status = 409
    elif isinstance(exc, ChatLimitError):
        status = exc.status
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(int(exc.retry_after_s + 0.999))
    return JSONResponse(status_code=status, content={"detail": str(exc), "error": type(exc).__name__}, headers=headers)


def _embedder(settings: Settings) -> Any:
    from knowledge.embedders import MiniLMEmbedder, OpenAIEmbedder

    if settings.embedder == "openai":
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAIEmbedder(
            model=settings.openai_embedding_model,
            base_url=settings.llm_base_url,
            api_key=key,
            timeout_seconds=settings.llm_timeout_seconds,
        )
    if settings.embedder == "e5":
        from knowledge.embedders_e5 import E5Embedder

        return E5Embedder()
    return MiniLMEmbedder()


def _agent_deps(settings: Settings, engine: Engine, context_config: ContextConfig) -> AgentDeps:
    """The chat service's dependencies: agent config, knowledge store (if indexed), LLM (if configured)."""
    from agent.config import load_agent_config
    from agent.llm.factory import build_chat_model

    store = None
    chroma = settings.resolved_chroma_path
    if settings.chroma_host or chroma.exists():
        from knowledge.store import open_store

        store = open_store(
            path=chroma, host=settings.chroma_host, port=settings.chroma_port, embedder=_embedder(settings)
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
        context_config=context_config,
        store=store,
        model=model,
        identity_secret=settings.identity_secret,
        llm_deadline_s=settings.llm_timeout_seconds,
    )


def _handoff_deps(settings: Settings, engine: Engine, agent: AgentDeps) -> HandoffDeps:
    """The handoff service's dependencies: `handoff:` config + secrets from settings, targets, the agent's LLM."""
    from agent.llm.base import StructuredChatModel
    from handoff.config import load_handoff_config
    from handoff.delivery import build_targets

    config = load_handoff_config(settings.resolved_config_file).model_copy(
        update={
            "webhook_secret": settings.handoff_webhook_secret,
            "zendesk_token": settings.handoff_zendesk_token,
            **(
                {"transcript_base_url": settings.handoff_transcript_base_url}
                if settings.handoff_transcript_base_url
                else {}
            ),
        }
    )
    model = agent.model if isinstance(agent.model, StructuredChatModel) else None
    return HandoffDeps(
        engine=engine,
        config=config,
        context_config=agent.context_config,
        model=model,
        targets=build_targets(config),
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The outbox worker resumes what a crash left (escalations without a handoff, undelivered rows) at start.
    worker = getattr(app.state, "handoff_worker", None)
    if worker is not None:
        worker.start()
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()


def create_app(settings: Settings | None = None, *, demo: bool = False) -> FastAPI:
    """The FastAPI app: a migrated database in app.state.engine, customer and chat routes, error mapping.

    `demo=True` serves signed demo identities to the demo page (never in production); without an identity
    secret configured it makes up a random one for the process.
    """
    settings = settings or load_settings()
    engine = make_engine(settings.resolved_database_url)
    if not is_up_to_date(engine):
        upgrade(engine)
    app = FastAPI(title="ContextDesk", version="0.1", lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.api_key = settings.api_key
    app.state.context_config = load_context_config(settings.resolved_config_file)
    app.add_exception_handler(ContextError, _context_error)
    app.add_exception_handler(AgentError, _agent_error)
    app.include_router(customers_router)
    if demo and settings.identity_secret is None:
        settings = settings.model_copy(update={"identity_secret": SecretStr(secrets.token_hex(32))})
    app.state.demo = demo
    app.state.agent = _agent_deps(settings, engine, app.state.context_config)
    app.include_router(chat_router)
    app.include_router(chat_human_router)
    app.include_router(chat_page_router)
    app.add_exception_handler(HandoffError, handoff_error_handler)
    app.state.handoff = _handoff_deps(settings, engine, app.state.agent)
    app.state.handoff_worker = None
    if settings.handoff_worker:
        from handoff.worker import OutboxWorker

        app.state.handoff_worker = OutboxWorker(app.state.handoff)
        app.state.agent.on_handoff = app.state.handoff_worker.notify
    app.include_router(inbox_router)
    app.include_router(inbox_page_router)
    if settings.cors_origins:
        # Only the configured widget origins may call the API from a browser (no wildcard: see Settings).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Accept", "X-API-Key"],
        )
    return app
