"""Providers of the customer-context routes: the database engine, the clock and the `context:` config.

The composition root sets `app.state.engine`, `app.state.clock` and `app.state.context_config` (context.appstate).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from context.appstate import wired
from context.customer_context.config import ContextConfig
from context.dbtypes import Clock


# Async so FastAPI calls them inline: a plain def would cost a thread-pool hop per request for an attribute read.
async def get_engine(request: Request) -> Engine:
    """The app's database engine (`app.state.engine`)."""
    engine: Engine = wired(request, "engine")
    return engine


async def get_clock(request: Request) -> Clock:
    """Where the app's "now" comes from (`app.state.clock`)."""
    clock: Clock = wired(request, "clock")
    return clock


async def get_context_config(request: Request) -> ContextConfig:
    """The `context:` section of contextdesk.yaml (`app.state.context_config`)."""
    config: ContextConfig = wired(request, "context_config")
    return config


EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ContextConfigDep = Annotated[ContextConfig, Depends(get_context_config)]
