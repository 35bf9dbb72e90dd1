"""Providers of the inbox routes: the handoff service's dependencies and the outbox worker to wake.

The composition root puts a `HandoffDeps` on `app.state.handoff` and the worker (or None) on
`app.state.handoff_worker` (context.appstate).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from context.appstate import wired
from handoff.service import HandoffDeps
from handoff.worker import OutboxWorker


# Async so FastAPI calls them inline: a plain def would cost a thread-pool hop per request for an attribute read.
async def get_handoff_deps(request: Request) -> HandoffDeps:
    """The handoff service's dependencies (`app.state.handoff`)."""
    deps: HandoffDeps = wired(request, "handoff")
    return deps


async def get_handoff_worker(request: Request) -> OutboxWorker | None:
    """The outbox worker of this process, or None when deliveries are left to another process."""
    worker: OutboxWorker | None = wired(request, "handoff_worker", optional=True)
    return worker


HandoffDepsDep = Annotated[HandoffDeps, Depends(get_handoff_deps)]
HandoffWorkerDep = Annotated[OutboxWorker | None, Depends(get_handoff_worker)]
