"""HTTP routes of the customer context (server-to-server, behind the X-API-Key header).

Their dependencies come from the providers of context.customer_context.deps; the composition root attaches the
API key when it includes the router. With no key configured every route answers 503: these endpoints are never open.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from context.customer_context.context_markdown import render_context
from context.customer_context.deps import ClockDep, ContextConfigDep, EngineDep
from context.customer_context.lookup import lookup_customer
from context.customer_context.models import CustomerContext, LookupResult, RenderedContext
from context.customer_context.service import build_customer_context


class ContextResponse(BaseModel):
    """A customer context, optionally with its token-budgeted rendering."""

    context: CustomerContext
    rendered: RenderedContext | None = None


router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get("/lookup", responses={422: {"description": "No usable criteria (e.g. a name without a postcode)."}})
def lookup(
    engine: EngineDep,
    config: ContextConfigDep,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[str | None, Query(max_length=128)] = None,
    external_id: Annotated[str | None, Query(max_length=256)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    postcode: Annotated[str | None, Query(max_length=32)] = None,
) -> LookupResult:
    """Find a customer by email, phone, order number, external id, or name + postcode."""
    return lookup_customer(
        engine=engine,
        email=email,
        phone=phone,
        order=order,
        external_id=external_id,
        name=name,
        postcode=postcode,
        external_id_formats=config.external_id_formats,
    )


@router.get("/{customer_id}/context", responses={404: {"description": "No such customer."}})
def customer_context(
    engine: EngineDep,
    config: ContextConfigDep,
    clock: ClockDep,
    customer_id: str,
    purpose: Literal["llm_prompt", "handoff", "widget"] = "llm_prompt",
    topic: Annotated[str | None, Query(max_length=64)] = None,
    render: bool = False,
    max_tokens: Annotated[int, Query(ge=100, le=32000)] = 800,
) -> ContextResponse:
    """The customer's context as `purpose` may see it; `render=true` adds the markdown for a prompt."""
    ctx = build_customer_context(
        engine=engine,
        customer_id=customer_id,
        purpose=purpose,
        topic=topic,
        config=config,
        now=clock(),
    )
    return ContextResponse(context=ctx, rendered=render_context(ctx, max_tokens=max_tokens) if render else None)
