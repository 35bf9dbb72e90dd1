"""`GET /demo/identities`: the demo personas with server-signed identities, for the plain demo page.

It lives in the composition root because it reads the demo package, which no production package may import.
Outside demo mode (or without an identity secret) it answers an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from agent.deps import AgentDepsDep
from agent.visitor_identity import sign_identity
from context.appstate import wired

router = APIRouter(tags=["demo page"])


@dataclass(frozen=True)
class DemoPage:
    """What the demo page serves from: the folder `contextdesk demo run` loaded the demo business from."""

    data_dir: Path


async def get_demo_page(request: Request) -> DemoPage | None:
    """The demo page's setup when create_app was asked for demo mode (`app.state.demo`), else None."""
    page: DemoPage | None = wired(request, "demo", optional=True)
    return page


DemoPageDep = Annotated[DemoPage | None, Depends(get_demo_page)]


@router.get("/demo/identities", include_in_schema=False)
def demo_identities(deps: AgentDepsDep, demo: DemoPageDep) -> JSONResponse:
    """Demo personas with server-computed signed identities (only when the app runs in demo mode).

    Each headline's dates are moved by the days the loaded demo's data was moved (its manifest, read per request:
    a reload on a later day moves them again), so the picker says what `customers show` and the chat say.
    """
    if demo is None or deps.identity_secret is None:
        return JSONResponse([])
    from demo.personas import PERSONAS
    from demo.shift import read_shift, shift_headline

    shift = read_shift(demo.data_dir)
    days = shift.days if shift is not None else 0
    return JSONResponse(
        [
            {
                "name": p.name,
                "email": p.email,
                "summary": shift_headline(p.summary, days),
                "user_hash": sign_identity(secret=deps.identity_secret, kind="email", identifier=p.email),
            }
            for p in PERSONAS
        ]
    )
