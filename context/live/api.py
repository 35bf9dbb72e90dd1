"""HTTP routes that keep context current: vendor webhooks, and the freshness of each source.

The composition root puts a `LiveDeps` on `app.state.live`, read by the `LiveDepsDep` provider. Webhook routes are
not behind the API key: the vendor's signature is their authentication (verified on the raw body before anything
is stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from context.appstate import wired
from context.errors import WebhookRejected
from context.intake.webhooks import receive_webhook
from context.live.lookup import LiveLookups
from context.live.propagate import PropagationDeps
from context.live.scheduler import SourceHealth, source_health
from context.live.worker import InboxWorker

router = APIRouter(tags=["sources"])
#: Source health, behind the API key (the composition root attaches it when including this router).
health_router = APIRouter(tags=["sources"])


@dataclass
class LiveDeps:
    """Webhook processing and its worker, as the routes need them."""

    propagation: PropagationDeps
    worker: InboxWorker | None = None
    lookup: LiveLookups | None = None  # chat-time lookups: a webhook about an object drops its cached answer


class WebhookAck(BaseModel):
    """The answer to a stored delivery (2xx: the vendor must not resend it)."""

    received: bool
    duplicate: bool


async def get_live_deps(request: Request) -> LiveDeps:
    """The app's webhook processing (`app.state.live`); 503 when this server was built without it."""
    deps: LiveDeps | None = wired(request, "live", optional=True)
    if deps is None:
        raise HTTPException(503, "webhooks are not configured on this server")
    return deps


LiveDepsDep = Annotated[LiveDeps, Depends(get_live_deps)]


@router.post(
    "/v1/webhooks/{source}",
    response_model=WebhookAck,
    summary="Receive a vendor webhook",
    responses={
        401: {"description": "The signature did not verify (forged, replayed, or signed with an unknown secret)."},
        404: {"description": "No configured source of that name takes webhooks."},
        503: {"description": "Webhooks are not configured on this server."},
    },
    # The raw body is read as bytes (the signature covers exactly those), so it is declared here.
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def receive(source: str, request: Request, live: LiveDepsDep) -> WebhookAck:
    """Verify the signature on the raw body, store the delivery, acknowledge; processing is asynchronous."""
    deps = live.propagation
    streams = [s for s in deps.intake.sources if s.connector_name == source]
    if not streams:
        raise HTTPException(404, f"no source named {source!r} takes webhooks here")
    body = await request.body()
    secrets = deps.connections.creds(streams[0]).webhook_secrets
    now: datetime = deps.clock()
    try:
        received = await run_in_threadpool(
            lambda: receive_webhook(
                engine=deps.engine,
                source=source,
                kind=streams[0].kind,
                body=body,
                headers=dict(request.headers),
                secrets=secrets,
                now=now,
                remote=request.client.host if request.client else None,
                url=str(request.url),
            )
        )
    except WebhookRejected as exc:
        # The reason is logged (webhook_rejections); the sender learns only that it was refused.
        raise HTTPException(401, "webhook signature did not verify") from exc
    if live.lookup is not None:
        for object_id in received.objects or (received.delivery.object_id,):
            live.lookup.forget_object(source, object_id)
    if live.worker is not None and not received.duplicate:
        live.worker.notify()
    return WebhookAck(received=True, duplicate=received.duplicate)


class SourcesHealth(BaseModel):
    """Freshness of every configured source and the webhook inbox."""

    ok: bool
    sources: list[SourceHealth]


@health_router.get(
    "/v1/health/sources",
    response_model=SourcesHealth,
    summary="Freshness of each source",
)
def health(live: LiveDepsDep) -> SourcesHealth:
    """Per source: last successful sync, last run's status and error, overdue, webhooks pending and failed."""
    deps = live.propagation
    rows = source_health(engine=deps.engine, sources=deps.intake.sources, now=deps.clock())
    healthy = all(not r.overdue and r.last_status != "failed" and r.webhooks_failed == 0 for r in rows)
    return SourcesHealth(ok=healthy, sources=rows)
