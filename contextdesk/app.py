"""The composition root of the HTTP API: settings → engine → routers, and one exception-to-HTTP mapping."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from context.customer_context.api import router as customers_router
from context.customer_context.config import load_context_config
from context.errors import ConfigError, ContextError, NotFoundError
from context.identity.errors import UnknownCustomerError
from contextdesk.db import is_up_to_date, make_engine, upgrade
from contextdesk.settings import Settings, load_settings


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


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app: a migrated database in app.state.engine, customer routes, error mapping."""
    settings = settings or load_settings()
    engine = make_engine(settings.resolved_database_url)
    if not is_up_to_date(engine):
        upgrade(engine)
    app = FastAPI(title="ContextDesk", version="0.1")
    app.state.settings = settings
    app.state.engine = engine
    app.state.api_key = settings.api_key
    app.state.context_config = load_context_config(settings.resolved_config_file)
    app.add_exception_handler(ContextError, _context_error)
    app.include_router(customers_router)
    return app
