"""Real servers on loopback for the HTTP-surface tests: the app in a uvicorn thread (configured exactly as
`contextdesk serve` configures it) or `contextdesk serve` itself as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from contextdesk.http_security import uvicorn_config
from contextdesk.settings import Settings

API_KEY = "http-surface-api-key-0123456789"
SECRET = "http-surface-identity-secret-0123"


def limits_yaml(path: Path, *, conversations_per_minute: int = 100000, max_message_chars: int = 500) -> Path:
    """A contextdesk.yaml with chat limits for the test (high by default: one client sends everything)."""
    path.write_text(
        "agent:\n  limits:\n"
        f"    max_message_chars: {max_message_chars}\n"
        "    messages_per_minute_per_conversation: 100000\n    messages_per_minute_per_ip: 100000\n"
        f"    conversations_per_minute_per_ip: {conversations_per_minute}\n"
    )
    return path


@contextmanager
def serve_in_thread(app: FastAPI, settings: Settings) -> Iterator[str]:
    """Serve the app with `contextdesk serve`'s uvicorn config on a free loopback port; yield its base URL."""
    config = uvicorn_config(app, settings=settings, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_cli(env: dict[str, str], cwd: Path, *, extra_args: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """Run `contextdesk serve` in its own process; yield (base URL, pid) once it answers."""
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    child_env = {**os.environ, **env, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "contextdesk.cli", "serve", "--port", str(port), *extra_args],
        cwd=cwd,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"contextdesk serve exited: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, "contextdesk serve did not answer within 120 s"
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
