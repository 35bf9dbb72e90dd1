"""Errors over real HTTP, on SQLite and PostgreSQL: what used to be a 500 (huge ids, infinite ages, lone
surrogates, NUL) is a 4xx with the one JSON error shape; text without anything visible opens no handoff; and
the OpenAPI document declares every status and body the API answers with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.http_errors import ErrorBody
from contextdesk.settings import Settings
from tests.contextdesk.http_helpers import API_KEY, limits_yaml, serve_in_thread

KEY = {"X-API-Key": API_KEY}
JSON = {"Content-Type": "application/json", **KEY}


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[httpx.Client]:
    """The real app over the test database (both backends), served on loopback."""
    settings = Settings(
        home=tmp_path,
        database_url=engine.url.render_as_string(hide_password=False),
        config_file=limits_yaml(tmp_path / "contextdesk.yaml"),
        api_key=API_KEY,
        handoff_worker=False,
    )
    with serve_in_thread(create_app(settings), settings) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def _is_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    ErrorBody.model_validate(body)
    assert set(body) <= {"error", "detail", "errors"} and body["detail"]
    return body


FORMER_500S = [
    ("GET", "/v1/handoffs/9223372036854775808"),  # >= 2**63: OverflowError in the SQLite driver
    ("GET", "/v1/handoffs/2147483648"),  # >= 2**31: out of range for PostgreSQL's INTEGER
    ("POST", "/v1/handoff-deliveries/99999999999999999999/retry"),
    ("GET", "/v1/handoffs?min_age_minutes=1e10"),
    ("GET", "/v1/handoffs?max_age_minutes=inf"),
    ("GET", "/v1/handoffs?min_age_minutes=nan"),
    ("GET", "/v1/customers/lookup?email=a%00b"),  # NUL: PostgreSQL refuses it in text
    ("GET", "/v1/conversations/abc%00def"),
]
UNSTORABLE_BODIES = [
    rb'{"content": "hi \ud800 there"}',  # a lone high surrogate: FastAPI's own 422 handler crashed on it
    rb'{"content": "\udc00"}',
    rb'{"content": "a\u0000b"}',
    rb'{"content": "ok", "extra": ["\ud83d"]}',
]


def test_former_server_errors_in_urls_are_422(client: httpx.Client) -> None:
    for method, url in FORMER_500S:
        body = _is_error(client.request(method, url, headers=KEY), 422)
        assert body["error"] == "RequestValidationError" and body["errors"], url


def test_text_no_database_can_store_is_422_naming_the_field(client: httpx.Client) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    for raw in UNSTORABLE_BODIES:
        body = _is_error(client.post(f"/v1/conversations/{cid}/messages", content=raw, headers=JSON), 422)
        assert body["errors"][0]["loc"][0] == "body", raw
    assert client.get(f"/v1/conversations/{cid}").json()["messages"] == []


def test_a_valid_surrogate_pair_is_just_an_emoji(client: httpx.Client) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    reply = client.post(f"/v1/conversations/{cid}/messages", content=rb'{"content": "hi \ud83d\ude00"}', headers=JSON)
    assert reply.status_code == 200
    assert client.get(f"/v1/conversations/{cid}").json()["messages"][0]["content"] == "hi \U0001f600"


INVISIBLE = ["   ", "\n\t \r", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u3164", "\u2800 \u00a0", "\x01\x02"]


def test_messages_with_nothing_visible_are_422_and_open_no_handoff(client: httpx.Client) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    # Each several times: a bot failing to answer would escalate; an empty message is not even recorded.
    for content in INVISIBLE * 2:
        body = _is_error(client.post(f"/v1/conversations/{cid}/messages", json={"content": content}), 422)
        assert body["errors"][0]["loc"] == ["body", "content"]
        assert "visible text" in body["detail"]
    assert client.get(f"/v1/conversations/{cid}").json()["messages"] == []
    assert client.get("/v1/handoff-requests", params={"status": ""}, headers=KEY).json() == []


def test_visible_text_around_invisible_characters_is_a_normal_message(client: httpx.Client) -> None:
    cid = client.post("/v1/conversations", json={}).json()["id"]
    reply = client.post(f"/v1/conversations/{cid}/messages", json={"content": "\u200b hello \u200b"})
    assert reply.status_code == 200 and reply.json()["reply"]


def test_inbox_actors_and_messages_need_visible_text_too(client: httpx.Client) -> None:
    body = _is_error(client.post("/v1/handoffs/1/notes", json={"actor": "\u200b", "body": " "}, headers=KEY), 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "actor"), ("body", "body")}


def test_http_errors_of_the_framework_use_the_same_shape(client: httpx.Client) -> None:
    assert _is_error(client.get("/no/such/route"), 404)["error"] == "NotFound"
    wrong_method = client.put("/v1/conversations")
    assert _is_error(wrong_method, 405)["error"] == "MethodNotAllowed" and "POST" in wrong_method.headers["allow"]
    assert _is_error(client.get("/v1/handoffs"), 401)["error"] == "Unauthorized"
    bad_json = client.post("/v1/conversations", content=b'{"user_id": ', headers=JSON)
    assert _is_error(bad_json, 422)["errors"][0]["type"] == "json_invalid"
    wrong_type = client.post("/v1/handoffs/1/claim", json={"actor": "sam", "take_over": 0}, headers=KEY)
    assert _is_error(wrong_type, 422)["errors"][0]["loc"] == ["body", "take_over"]


def test_openapi_declares_every_error_with_the_error_body(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components and "ErrorBody" in components
    for path, item in schema["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            if "requestBody" in op:
                assert {"400", "413", "422"} <= codes, (method, path)
            if op.get("security"):
                assert {"401", "503"} <= codes, (method, path)
            for code, response in op["responses"].items():
                if code[0] in "45":
                    assert response["content"] == {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    }, (method, path, code)
    paths = schema["paths"]
    assert {"404", "409"} <= set(paths["/v1/handoffs/{handoff_id}/claim"]["post"]["responses"])
    assert {"404", "413", "429"} <= set(paths["/v1/conversations/{conversation_id}/messages"]["post"]["responses"])
    # Every text field a client sends has a maximum; the message's is the deployment's configured limit.
    for name in ("MessageCreate", "ReplyBody", "NoteBody", "CloseBody", "ConversationCreate"):
        for prop, spec in components[name]["properties"].items():
            strings = [spec, *spec.get("anyOf", [])]
            assert all("maxLength" in s for s in strings if s.get("type") == "string"), (name, prop)
    assert components["MessageCreate"]["properties"]["content"]["maxLength"] == 500
