"""HTTP routes of the customer context (server-to-server, behind the X-API-Key header).

The composition root (contextdesk/app.py) puts on `app.state`: `engine`, `clock`, `context_config`
(a SecretStr or None). With no key configured every route answers 503: these endpoints are never open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from context.customer_context.config import ContextConfig
from context.customer_context.context_markdown import render_context
from context.customer_context.lookup import lookup_customer
from context.customer_context.models import CustomerContext, LookupResult, RenderedContext
from context.customer_context.service import build_customer_context
from context.dbtypes import Clock


# Declared as a security scheme so the OpenAPI document (and Swagger UI's "Authorize") knows about the key.
def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


def _config(request: Request) -> ContextConfig:
    return getattr(request.app.state, "context_config", None) or ContextConfig()


class ContextResponse(BaseModel):
    """A customer context, optionally with its token-budgeted rendering."""

    context: CustomerContext
    rendered: RenderedContext | None = None


router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get("/lookup", responses={422: {"description": "No usable criteria (e.g. a name without a postcode)."}})
def lookup(
    request: Request,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[str | None, Query(max_length=128)] = None,
    external_id: Annotated[str | None, Query(max_length=256)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    postcode: Annotated[str | None, Query(max_length=32)] = None,
) -> LookupResult:
    """Find a customer by email, phone, order number, external id, or name + postcode."""
    return lookup_customer(
        engine=_engine(request),
        email=email,
        phone=phone,
        order=order,
        external_id=external_id,
        name=name,
        postcode=postcode,
        external_id_formats=_config(request).external_id_formats,
    )


@router.get("/{customer_id}/context", responses={404: {"description": "No such customer."}})
def customer_context(
    request: Request,
    customer_id: str,
    purpose: Literal["llm_prompt", "handoff", "widget"] = "llm_prompt",
    topic: Annotated[str | None, Query(max_length=64)] = None,
    render: bool = False,
    max_tokens: Annotated[int, Query(ge=100, le=32000)] = 800,
) -> ContextResponse:
    """The customer's context as `purpose` may see it; `render=true` adds the markdown for a prompt."""
    ctx = build_customer_context(
        engine=_engine(request),
        customer_id=customer_id,
        purpose=purpose,
        topic=topic,
        config=_config(request),
        now=_now(request),
    )
    return ContextResponse(context=ctx, rendered=render_context(ctx, max_tokens=max_tokens) if render else None)
