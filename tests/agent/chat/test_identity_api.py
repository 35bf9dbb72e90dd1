"""Signed identity over real HTTP (create_app from Settings, uvicorn on loopback): an identity token binds its
`sub` to the configured site user kind, expires, and rotates keys; a v2 user_hash works the same way."""

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

from agent.config import SiteIdentity
from agent.visitor_identity import sign_identity, sign_identity_token
from contextdesk.app import create_app
from contextdesk.settings import Settings
from knowledge.store import KnowledgeStore
from tests.agent.chat.helpers import SECRET

KEYS = {"2026-12": SecretStr("december-key-" + "d" * 32), "2027-01": SecretStr("january-key-" + "j" * 32)}
MAYA_SHOPIFY = "7000000000101"  # Maya's Shopify customer id (the demo persona)
MAYA_CRM = "100001"  # her CRM contact number: another kind, never a site user id here


@pytest.fixture(scope="module")
def server(demo_db: Engine, kb: KnowledgeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app with the site's user ids bound to Shopify customer ids and two token keys (a rotation)."""
    config = tmp_path_factory.mktemp("cfg") / "contextdesk.yaml"
    config.write_text(
        "agent:\n  identity:\n    user_id_kind: shopify_customer\n    user_id_format: 'shopify:customer:{}'\n"
    )
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=demo_db.url.render_as_string(hide_password=False),
        chroma_path=Path(kb.location),
        config_file=config,
        identity_secret=SECRET,
        identity_jwt_keys=KEYS,
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


def _conversation(server: str, body: dict[str, str]) -> tuple[bool, str]:
    with httpx.Client(base_url=server, timeout=30) as client:
        r = client.post("/v1/conversations", json=body)
        assert r.status_code == 201, r.text
        conv = r.json()
        reply = client.post(f"/v1/conversations/{conv['id']}/messages", json={"content": "where is my order?"})
        assert reply.status_code == 200, reply.text
        return bool(conv["verified"]), str(reply.json()["reply"])


def _token(sub: str, *, kid: str = "2027-01", minutes: int = 5) -> str:
    # The server's clock is the wall clock (the composition root), so the token's expiry is too.
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    return sign_identity_token(key=KEYS[kid], kid=kid, sub=sub, expires_at=expires)


def test_a_token_for_the_sites_user_id_opens_that_customers_context(server: str) -> None:
    verified, reply = _conversation(server, {"identity_token": _token(MAYA_SHOPIFY)})
    assert verified and "#1042" in reply
    verified, reply = _conversation(server, {"identity_token": _token(MAYA_SHOPIFY, kid="2026-12")})  # older key
    assert verified and "#1042" in reply


def test_expired_tokens_are_visitors_and_other_kinds_of_ids_open_nothing(server: str) -> None:
    verified, reply = _conversation(server, {"identity_token": _token(MAYA_SHOPIFY, minutes=-10)})
    assert not verified and "#1042" not in reply
    verified, reply = _conversation(server, {"identity_token": _token(MAYA_CRM)})
    assert verified and "#1042" not in reply and "not signed in" not in reply


def test_a_v2_user_hash_binds_the_same_way(server: str) -> None:
    binding = SiteIdentity(user_id_kind="shopify_customer", user_id_format="shopify:customer:{}")
    for uid, sees in ((MAYA_SHOPIFY, True), (MAYA_CRM, False)):
        h = sign_identity(secret=SECRET, kind="user_id", identifier=uid, binding=binding)
        verified, reply = _conversation(server, {"user_id": uid, "user_hash": h})
        assert verified and ("#1042" in reply) is sees
