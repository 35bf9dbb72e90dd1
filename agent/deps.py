"""Providers of the chat routes: the agent's dependencies and the client's address.

The composition root puts an `AgentDeps` on `app.state.agent` (context.appstate); the widget's own
`WidgetDeps` provider lives beside its type in agent.widget_api.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from agent.service import AgentDeps
from context.appstate import wired


# Async so FastAPI calls them inline: a plain def would cost a thread-pool hop per request for an attribute read.
async def get_agent_deps(request: Request) -> AgentDeps:
    """The chat service's dependencies (`app.state.agent`)."""
    deps: AgentDeps = wired(request, "agent")
    return deps


async def client_ip(request: Request) -> str:
    """The caller's address for rate limits: the socket peer, or the client a trusted proxy named."""
    # The server decides (CONTEXTDESK_TRUSTED_PROXIES), never a header the client sent straight to us.
    return request.client.host if request.client else "unknown"


AgentDepsDep = Annotated[AgentDeps, Depends(get_agent_deps)]
ClientIp = Annotated[str, Depends(client_ip)]
