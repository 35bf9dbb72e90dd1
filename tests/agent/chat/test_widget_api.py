"""The widget's API over real HTTP (create_app from Settings, uvicorn on loopback): its config in the browser's
language, the signed identity exchanged once for a short-lived conversation token, and resuming after a page load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agent.errors import WidgetTokenError
from agent.visitor_identity import sign_identity
from agent.widget import conversation_of_token, issue_token
from contextdesk.app import create_app
from contextdesk.settings import Settings
from knowledge.store import KnowledgeStore
from tests.agent.chat.helpers import SECRET

MAYA = "maya.chen@example.com"
TOKEN_SECRET = SecretStr("widget-token-secret-" + "w" * 20)


@pytest.fixture(scope="module")
def server(demo_db: Engine, kb: KnowledgeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app with a `widget:` section (a name, a colour, French strings overridden for one key)."""
    config = tmp_path_factory.mktemp("cfg") / "contextdesk.yaml"
    config.write_text(
        "widget:\n  business_name: Acme Outdoor\n  color: '#0a7d4f'\n  position: left\n"
        "  strings:\n    fr:\n      greeting: Salut !\n  sites:\n    blog:\n      color: '#aa0000'\n"
    )
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=demo_db.url.render_as_string(hide_password=False),
        chroma_path=Path(kb.location),
        config_file=config,
        identity_secret=SECRET,
        widget_token_secret=TOKEN_SECRET,
    )
    app = create_app(settings)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=5)


def test_config_speaks_the_browsers_language(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        fr = client.get("/v1/widget/config", headers={"Accept-Language": "de-DE,fr-CA;q=0.8,en;q=0.5"}).json()
        en = client.get("/v1/widget/config", headers={"Accept-Language": "ja"}).json()
        blog = client.get("/v1/widget/config", params={"site": "blog", "lang": "en"}).json()
    assert fr["language"] == "fr" and fr["strings"]["greeting"] == "Salut !"
    assert fr["strings"]["send"] == "Envoyer"
    assert en["language"] == "en" and en["strings"]["send"] == "Send"
    assert (fr["business_name"], fr["color"], fr["position"]) == ("Acme Outdoor", "#0a7d4f", "left")
    assert blog["color"] == "#aa0000" and blog["business_name"] == "Acme Outdoor"
    assert isinstance(fr["open_now"], bool) and fr["next_opening"]


def test_default_config_has_no_demo_wording(tmp_path: Path) -> None:
    from agent.widget import BUILTIN_STRINGS, WidgetConfig

    look = WidgetConfig()
    assert look.business_name == ""
    text = " ".join(" ".join(t.values()) for t in BUILTIN_STRINGS.values()).lower()
    for demo_word in ("acme", "maya", "outdoor", "demo"):
        assert demo_word not in text


def test_signed_identity_is_exchanged_for_a_token(server: str) -> None:
    user_hash = sign_identity(secret=SECRET, kind="email", identifier=MAYA)
    with httpx.Client(base_url=server) as client:
        session = client.post("/v1/widget/session", json={"email": MAYA, "user_hash": user_hash})
        assert session.status_code == 201, session.text
        body = session.json()
        assert body["verified"] is True and body["token"].startswith("cdw1.")
        assert "Maya" in body["greeting"]
        refreshed = client.post("/v1/widget/session/refresh", headers={"Authorization": f"Bearer {body['token']}"})
        assert refreshed.status_code == 200 and refreshed.json()["conversation_id"] == body["conversation_id"]


def test_forged_hash_gets_a_visitor_chat(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        body = client.post("/v1/widget/session", json={"email": MAYA, "user_hash": "v2=" + "0" * 64}).json()
    assert body["verified"] is False and "Maya" not in (body["greeting"] or "")


def test_forged_token_is_refused(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        good = client.post("/v1/widget/session", json={}).json()["token"]
        forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        other_key, _ = issue_token(
            secret=SecretStr("x" * 40), conversation_id="0" * 32, now=datetime.now(UTC), minutes=5
        )
        for bad in (forged, other_key, "cdw1.garbage"):
            r = client.post("/v1/widget/session/refresh", headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401, r.text
            assert r.json()["error"] == "WidgetTokenError"


def test_token_expires() -> None:
    start = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    token, expires = issue_token(secret=TOKEN_SECRET, conversation_id="abc", now=start, minutes=30)
    assert conversation_of_token(token, secret=TOKEN_SECRET, now=start + timedelta(minutes=29)) == "abc"
    assert expires == start + timedelta(minutes=30)
    with pytest.raises(WidgetTokenError, match="expired"):
        conversation_of_token(token, secret=TOKEN_SECRET, now=start + timedelta(minutes=30))


def test_resume_after_a_page_load_only_for_the_same_person(server: str) -> None:
    user_hash = sign_identity(secret=SECRET, kind="email", identifier=MAYA)
    with httpx.Client(base_url=server) as client:
        visitor = client.post("/v1/widget/session", json={}).json()
        resume = {"conversation_id": visitor["conversation_id"], "ticket": visitor["resume_ticket"]}
        again = client.post("/v1/widget/session", json={"resume": resume}).json()
        assert again["resumed"] is True and again["conversation_id"] == visitor["conversation_id"]
        # Signing in (or a wrong ticket) starts a new conversation: a visitor's chat never becomes a customer's.
        signed = client.post("/v1/widget/session", json={"email": MAYA, "user_hash": user_hash, "resume": resume})
        assert signed.json()["resumed"] is False and signed.json()["verified"] is True
        wrong = {"conversation_id": visitor["conversation_id"], "ticket": "cdr1.nope"}
        assert client.post("/v1/widget/session", json={"resume": wrong}).json()["resumed"] is False


def test_widget_assets_are_served_with_the_frame_policy(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        js = client.get("/widget.js")
        frame = client.get("/widget/frame")
        missing = client.get("/widget/assets/../../settings.py")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert frame.status_code == 200 and "script-src 'self'" in frame.headers["content-security-policy"]
    assert "unsafe-inline" not in frame.headers["content-security-policy"]
    assert missing.status_code == 404


def test_a_bad_widget_section_names_the_file_and_field(tmp_path: Path) -> None:
    from agent.errors import AgentConfigError
    from agent.widget import load_widget_config

    config = tmp_path / "contextdesk.yaml"
    config.write_text("widget:\n  color: blue\n  strings:\n    en:\n      gretting: Hi\n")
    with pytest.raises(AgentConfigError) as caught:
        load_widget_config(config)
    message = str(caught.value)
    assert str(config) in message and "widget.color" in message and "gretting" in message


def test_away_outside_business_hours() -> None:
    from agent.config import BusinessHours
    from agent.widget import availability

    hours = BusinessHours(timezone="America/New_York")  # Mon-Fri 09:00-17:00
    saturday = availability(hours, datetime(2026, 12, 5, 15, 0, tzinfo=UTC))
    wednesday = availability(hours, datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    assert saturday == {"open_now": False, "next_opening": "2026-12-07T09:00:00-05:00"}
    assert wednesday["open_now"] is True


def test_the_panel_names_the_business_of_the_business_section(tmp_path: Path) -> None:
    from agent.widget import load_widget_config

    config = tmp_path / "contextdesk.yaml"
    config.write_text("business:\n  name: Spoke & Chain Cycles\n")
    assert load_widget_config(config).business_name == "Spoke & Chain Cycles"
    config.write_text("business:\n  name: Spoke & Chain Cycles\nwidget:\n  business_name: Spoke & Chain\n")
    assert load_widget_config(config).business_name == "Spoke & Chain"
