"""Schemathesis fuzzes every operation of the real app (create_app, in-process over ASGI) against the app's own
OpenAPI document, with all checks: no 5xx, every status and body as declared, invalid input refused, valid input
accepted, the API key enforced. Bounded: a fixed number of examples per operation, derandomized so CI is
reproducible; `CONTEXTDESK_FUZZ_EXAMPLES=500 CONTEXTDESK_FUZZ_SEED=random` fuzzes longer with fresh inputs.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contextdesk.app import create_app
from contextdesk.settings import Settings
from handoff.service import run_once

API_KEY = "fuzz-api-key-0123456789abcdef"
SECRET = "fuzz-identity-secret-0123456789"
EXAMPLES = int(os.environ.get("CONTEXTDESK_FUZZ_EXAMPLES", "30"))
RANDOM = os.environ.get("CONTEXTDESK_FUZZ_SEED", "") == "random"
# Schemathesis' defaults for these two checks, spelled out because each gets one addition below.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
ACCEPTANCES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "headers": {"X-API-Key": API_KEY},
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": not RANDOM, "database": "none"},
        "checks": {
            "enabled": True,
            # 413 is a refusal too: a message over the configured length (the schema's maxLength) says so.
            "negative_data_rejection": {"expected-statuses": [*REFUSALS, "413"]},
        },
        "operations": [
            {
                # A lookup needs usable criteria (e.g. name *and* postcode, a real phone number): rules between
                # parameters that JSON Schema cannot state, so a schema-valid lookup may be a declared 422.
                "include-path": "/v1/customers/lookup",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTANCES, "422"]}},
            }
        ],
    }
)


def _seed(app: FastAPI) -> None:
    """A few conversations, handoffs and replies, so fuzzed ids hit real rows as well as missing ones."""
    client = TestClient(app)
    for text in ("where is my order?", "I want to talk to a person", "this is useless, get me a human now"):
        cid = client.post("/v1/conversations", json={}).json()["id"]
        assert client.post(f"/v1/conversations/{cid}/messages", json={"content": text}).status_code == 200
    run_once(app.state.handoff)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real app on a fresh SQLite store, high rate limits (the fuzzer is one client), seeded."""
    home = tmp_path_factory.mktemp("fuzz")
    config = home / "contextdesk.yaml"
    config.write_text(
        "agent:\n  limits:\n    max_message_chars: 500\n    messages_per_minute_per_conversation: 100000\n"
        "    messages_per_minute_per_ip: 100000\n    conversations_per_minute_per_ip: 100000\n"
    )
    settings = Settings(home=home, config_file=config, api_key=API_KEY, identity_secret=SECRET, handoff_worker=False)
    app = create_app(settings)
    _seed(app)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("fuzzed_app")


@pytest.mark.slow
@schema.parametrize()
def test_every_operation_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()
