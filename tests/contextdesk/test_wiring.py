"""An app assembled without the composition root fails loudly, naming what it lacks (context.appstate): the routes
read their dependencies only through the providers, never by attribute lookups that would fail obscurely."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.api import router as chat_router
from context.appstate import AppNotWired
from context.live.api import router as live_router
from contextdesk.http_errors import install_error_handlers
from handoff.api import router as inbox_router


def _bare_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    for router in (chat_router, inbox_router, live_router):
        app.include_router(router)
    return app


@pytest.mark.parametrize(("path", "missing"), [("/v1/conversations/abc", "agent"), ("/v1/handoffs", "handoff")])
def test_an_unwired_dependency_names_the_missing_state_and_answers_the_error_shape(path: str, missing: str) -> None:
    with TestClient(_bare_app()) as client, pytest.raises(AppNotWired, match=rf"app\.state\.{missing} is not set"):
        client.get(path)
    with TestClient(_bare_app(), raise_server_exceptions=False) as client:
        response = client.get(path)
    assert response.status_code == 500
    assert response.json()["error"] == "InternalServerError"


def test_webhooks_of_a_server_built_without_them_answer_503() -> None:
    with TestClient(_bare_app()) as client:
        response = client.post("/v1/webhooks/shop", json={})
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]
