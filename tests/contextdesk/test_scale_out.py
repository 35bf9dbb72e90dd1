"""The documented scale-out deployment (docs/deployment.md), for real on loopback: `contextdesk serve --workers 2`
on PostgreSQL + Redis + a `chroma run` server, chat turns through it.

Skipped, with the reason, where PostgreSQL, Redis or the `chroma` command is missing; CI's machine has all three.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from contextdesk.db import make_engine
from demo.help_center import ARTICLES_DIR
from knowledge.embedders import MiniLMEmbedder
from knowledge.service import ingest
from knowledge.store import open_store
from tests.conftest import POSTGRES_ADMIN_URL, POSTGRES_AVAILABLE
from tests.contextdesk.http_helpers import free_port, serve_cli

REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))


def _redis_available() -> bool:
    from redis import Redis, RedisError

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except RedisError:
        return False


pytestmark = [
    pytest.mark.skipif(not POSTGRES_AVAILABLE, reason="PostgreSQL not reachable at CONTEXTDESK_TEST_POSTGRES_URL"),
    pytest.mark.skipif(not _redis_available(), reason=f"Redis not reachable at {REDIS_URL}"),
    pytest.mark.skipif(not Path(CHROMA).exists(), reason="the `chroma` command (chromadb's server) is not installed"),
]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own (the workers migrate it)."""
    name = f"cd_scale_out_{os.getpid()}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """`chroma run` on a free loopback port; yields the port once its heartbeat answers."""
    port = free_port()
    proc = subprocess.Popen(
        [CHROMA, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "chroma run did not answer within 60 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _children(pid: int) -> list[int]:
    """Pids of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_two_workers_on_postgres_redis_and_a_chroma_server_answer_chat_turns(
    tmp_path: Path, postgres_url: str, chroma_server: int
) -> None:
    # The help center goes into the Chroma server, as `contextdesk kb ingest` with CONTEXTDESK_CHROMA_HOST does.
    store = open_store(host="127.0.0.1", port=chroma_server, embedder=MiniLMEmbedder())
    articles = tmp_path / "help"
    articles.mkdir()
    for name in ("refund-timing.md", "storing-tea.md", "international-shipping.md", "return-policy.md"):
        shutil.copy(ARTICLES_DIR / name, articles / name)
    ingest([articles], store=store)
    questions = ["how should I store loose leaf tea?", "how long do refunds take to reach my card?"]

    config = tmp_path / "contextdesk.yaml"
    config.write_text(
        "agent:\n  limits:\n    messages_per_minute_per_conversation: 4\n"
        "    messages_per_minute_per_ip: 100000\n    conversations_per_minute_per_ip: 100000\n"
    )
    env = {
        "CONTEXTDESK_HOME": str(tmp_path / "home"),
        "CONTEXTDESK_DATABASE_URL": postgres_url,
        "CONTEXTDESK_REDIS_URL": REDIS_URL,
        "CONTEXTDESK_CHROMA_HOST": "127.0.0.1",
        "CONTEXTDESK_CHROMA_PORT": str(chroma_server),
        "CONTEXTDESK_CONFIG_FILE": str(config),
    }
    with serve_cli(env, tmp_path, extra_args=["--workers", "2"]) as (base, pid):
        assert len(_children(pid)) >= 2, "two worker processes under the supervisor"

        def converse(_: int) -> list[tuple[int, dict[str, object]]]:
            with httpx.Client(base_url=base, timeout=60) as client:
                cid = client.post("/v1/conversations", json={}).json()["id"]
                # New connections each turn: the kernel spreads them over both workers.
                return [
                    (r.status_code, r.json())
                    for r in (
                        httpx.post(f"{base}/v1/conversations/{cid}/messages", json={"content": q}, timeout=60)
                        for q in questions
                    )
                ]

        with ThreadPoolExecutor(8) as pool:
            turns = [turn for conversation in pool.map(converse, range(6)) for turn in conversation]
        assert [status for status, _ in turns] == [200] * 12
        # Grounded answers from the Chroma server's passages.
        ungrounded = [body["reply"] for _, body in turns if not body["citations"]]
        assert ungrounded == []
        cid = str(turns[0][1]["conversation_id"])
        transcript = httpx.get(f"{base}/v1/conversations/{cid}", timeout=30).json()
        assert [m["role"] for m in transcript["messages"]][-4:] == ["customer", "assistant"] * 2

        # The conversation's limit (4 a minute) is counted in Redis, whichever worker each message reaches.
        codes = [
            httpx.post(f"{base}/v1/conversations/{cid}/messages", json={"content": q}, timeout=60).status_code
            for q in ["do you ship internationally?", "what is your return policy?", "thanks"]
        ]
        assert codes == [200, 200, 429]
