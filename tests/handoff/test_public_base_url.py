"""Links in handoff summaries use the configured public base URL (CONTEXTDESK_PUBLIC_BASE_URL), not a bind port."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.agent.chat.helpers import MAYA, SECRET, signed
from tests.clock import tick

KEY = "inbox-test-api-key-0123456789"


def test_summary_links_use_the_public_base_url(demo_db: Engine, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=str(demo_db.url),
        api_key=SecretStr(KEY),
        identity_secret=SECRET,
        config_file=None,
        public_base_url="https://support.example.com",
    )
    with TestClient(create_app(settings, clock=tick)) as client:
        conv = client.post("/v1/conversations", json=signed(MAYA)).json()
        client.post(f"/v1/conversations/{conv['id']}/messages", json={"content": "I want a person please, now"})
        auth = {"X-API-Key": KEY}
        end = time.monotonic() + 10
        mine: list[dict[str, str]] = []
        while not mine and time.monotonic() < end:
            mine = [h for h in client.get("/v1/handoffs", headers=auth).json() if h["conversation_id"] == conv["id"]]
            time.sleep(0.05)
        assert mine, "no handoff appeared"
        handoff = client.get(f"/v1/handoffs/{mine[0]['id']}", headers=auth).json()
    assert f"https://support.example.com/inbox?handoff={mine[0]['id']}" in handoff["summary_text"]
    assert "127.0.0.1:8000" not in handoff["summary_text"]
