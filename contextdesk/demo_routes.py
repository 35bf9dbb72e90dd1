"""`GET /demo/identities`: the demo personas with server-signed identities, for the plain demo page.

It lives in the composition root because it reads the demo package, which no production package may import.
Outside demo mode (or without an identity secret) it answers an empty list.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from agent.deps import AgentDepsDep
from agent.visitor_identity import sign_identity
from context.appstate import wired

router = APIRouter(tags=["demo page"])


async def get_demo_mode(request: Request) -> bool:
    """Whether create_app was asked for demo mode (`app.state.demo`; unset counts as no)."""
    return bool(wired(request, "demo", optional=True))


DemoMode = Annotated[bool, Depends(get_demo_mode)]


@router.get("/demo/identities", include_in_schema=False)
def demo_identities(deps: AgentDepsDep, demo: DemoMode) -> JSONResponse:
    """Demo personas with server-computed signed identities (only when the app runs in demo mode)."""
    if not demo or deps.identity_secret is None:
        return JSONResponse([])
    from demo.personas import PERSONAS

    return JSONResponse(
        [
            {
                "name": p.name,
                "email": p.email,
                "summary": p.summary,
                "user_hash": sign_identity(secret=deps.identity_secret, kind="email", identifier=p.email),
            }
            for p in PERSONAS
        ]
    )
