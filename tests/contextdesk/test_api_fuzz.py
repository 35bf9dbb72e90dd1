"""Schemathesis fuzzes every operation of the real app, served on loopback as `contextdesk serve` serves it, on
SQLite and PostgreSQL, against the app's own OpenAPI document with all checks and the API key: any 5xx, any
undeclared status, any body that does not match its schema, any invalid input accepted or valid input refused
fails the test, with schemathesis' report (and a curl line to reproduce) as the message.

Bounded: a fixed number of examples per operation and a fixed seed, so CI is reproducible. To fuzz longer with
fresh inputs: `CONTEXTDESK_FUZZ_EXAMPLES=200 CONTEXTDESK_FUZZ_SEED=$RANDOM pytest tests/contextdesk/test_api_fuzz.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from contextdesk.app import create_app
from contextdesk.settings import Settings
from handoff.service import run_once
from tests.contextdesk.http_helpers import API_KEY, SECRET, limits_yaml, serve_in_thread

EXAMPLES = int(os.environ.get("CONTEXTDESK_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("CONTEXTDESK_FUZZ_SEED", "1"))
#: Wall-clock cap of one run: a safety net against a hang, far above the ~1-2 minutes a run takes.
CAP_SECONDS = 900

# Schemathesis' expected statuses for two checks, spelled out because each gets one addition:
# 413 is a refusal too (a message over the configured length, which the schema's maxLength states), and a
# lookup needs usable criteria (a name *and* a postcode, a real phone number): rules between parameters that
# JSON Schema cannot state, so a schema-valid lookup may get its declared 422.
CONFIG = f"""
headers = {{ "X-API-Key" = "{API_KEY}" }}
workers = 1

[generation]
mode = "all"
max-examples = {EXAMPLES}
database = "none"
# NUL characters are refused (422) in all text, as the API's description says: no database stores them.
allow-x00 = false

[checks]
enabled = true
negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
  "428", "429", "5xx"]

[[operations]]
include-path = "/v1/customers/lookup"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429",
  "5xx"]

# The events endpoint without `format=json` is a live stream that stays open for the next event by design, so
# each case would wait out the request timeout: fuzz its JSON page (the same parameters and access checks);
# the stream itself is tested in tests/agent/chat/test_streaming.py.
[[operations]]
include-path = "/v1/conversations/{{conversation_id}}/events"
parameters = {{ "query.format" = "json" }}
"""


def _seed(base: str) -> None:
    """Conversations, escalations and handoffs, so fuzzed ids hit real rows as well as missing ones."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for text in ("where is my order?", "I want to talk to a person", "this is useless, get me a human now"):
            cid = client.post("/v1/conversations", json={}).json()["id"]
            assert client.post(f"/v1/conversations/{cid}/messages", json={"content": text}).status_code == 200


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_contract_violation(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=engine.url.render_as_string(hide_password=False),
        config_file=limits_yaml(tmp_path / "contextdesk.yaml"),
        api_key=API_KEY,
        identity_secret=SECRET,
        handoff_worker=False,
    )
    app = create_app(settings)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with serve_in_thread(app, settings) as base:
        _seed(base)
        assert run_once(app.state.handoff)["created"], "seeding opened no handoff"
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--seed",
                str(SEED),
            ],
            capture_output=True,
            text=True,
            timeout=CAP_SECONDS,
            check=False,
            cwd=tmp_path,
        )
    report = done.stdout[done.stdout.find("=== FAILURES") :] if "=== FAILURES" in done.stdout else done.stdout
    print(f"schemathesis: {time.monotonic() - started:.0f} s, exit {done.returncode}")
    assert done.returncode == 0, report[-12000:] + done.stderr[-2000:]
    operations = sum(len(item) for item in app.openapi()["paths"].values())
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) == operations, done.stdout[-3000:]
