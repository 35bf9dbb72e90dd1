"""`GET /demo/identities`: the demo personas with server-signed identities, for the plain demo page.

It lives in the composition root because it reads the demo package, which no production package may import.
Outside demo mode (or without an identity secret) it answers an empty list.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agent.service import AgentDeps
from agent.visitor_identity import sign_identity

router = APIRouter(tags=["demo page"])


@router.get("/demo/identities", include_in_schema=False)
def demo_identities(request: Request) -> JSONResponse:
    """Demo personas with server-computed signed identities (only when the app runs in demo mode)."""
    deps: AgentDeps = request.app.state.agent
    if not getattr(request.app.state, "demo", False) or deps.identity_secret is None:
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
