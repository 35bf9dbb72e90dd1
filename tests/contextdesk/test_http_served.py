"""The server exactly as `contextdesk serve` runs it (its own process, real uvicorn, loopback): the client's
address is the socket's, whatever X-Forwarded-For says; oversized bodies are refused before they are read, and
the process's memory does not grow however much a client tries to upload."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.contextdesk.http_helpers import API_KEY, limits_yaml, serve_cli

LIMIT = 65_536  # CONTEXTDESK_MAX_REQUEST_BODY_BYTES for this server
PER_MINUTE = 3  # new conversations per address per minute


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`contextdesk serve` on a fresh home with a small body limit and a small per-address budget."""
    home = tmp_path_factory.mktemp("served")
    env = {
        "CONTEXTDESK_HOME": str(home / "data"),
        "CONTEXTDESK_CONFIG_FILE": str(limits_yaml(home / "contextdesk.yaml", conversations_per_minute=PER_MINUTE)),
        "CONTEXTDESK_API_KEY": API_KEY,
        "CONTEXTDESK_MAX_REQUEST_BODY_BYTES": str(LIMIT),
        "CONTEXTDESK_HANDOFF_WORKER": "false",
    }
    with serve_cli(env, cwd=home) as server:
        yield server


def _peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory (VmHWM): it shows any buffering, even if freed since."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def test_spoofed_forwarded_for_does_not_buy_a_new_rate_limit_budget(served: tuple[str, int]) -> None:
    base, _pid = served
    statuses = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(PER_MINUTE + 2):
            headers = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"198.51.100.{i + 1}"}
            statuses.append(client.post("/v1/conversations", json={}, headers=headers).status_code)
    # Every request is the same client (127.0.0.1) whatever the headers say, so the budget runs out.
    assert statuses[:PER_MINUTE] == [201] * PER_MINUTE
    assert statuses[PER_MINUTE:] == [429, 429]


def test_a_declared_oversized_body_is_refused_before_any_of_it_is_sent(served: tuple[str, int]) -> None:
    base, _pid = served
    with _connect(base) as sock:
        # Only the headers: a server that waited for the body would never answer.
        sock.sendall(
            b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        response = _read_response(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert httpx.Response(413, content=body).json()["error"] == "RequestTooLarge"


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(served: tuple[str, int]) -> None:
    base, _pid = served
    with _connect(base) as sock:
        sock.sendall(
            b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 4096
        for _ in range(LIMIT // len(chunk) + 1):  # just past the limit, and the body never ends
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"error":"RequestTooLarge"' in response


def test_uploads_far_over_the_limit_do_not_grow_the_server_memory(served: tuple[str, int]) -> None:
    base, pid = served
    before = _peak_rss_kb(pid)
    attempt = 32 * 1024 * 1024
    piece = b"y" * 65536
    sent_per_upload = []
    for _ in range(8):  # eight 32 MB uploads; the server held 100 MB bodies in memory before
        sent = 0
        with _connect(base) as sock:
            sock.sendall(
                b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            try:
                while sent < attempt:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
            except OSError:  # the server hung up on us: what it refuses, it stops reading
                pass
        sent_per_upload.append(sent)
    growth_mb = (_peak_rss_kb(pid) - before) / 1024
    # The server stopped each upload early (socket buffers hold a few MB at most) ...
    assert max(sent_per_upload) < attempt / 2, sent_per_upload
    # ... and never held one in memory: its peak RSS grew by less than a single upload.
    assert growth_mb < 16, f"peak RSS grew by {growth_mb:.1f} MB"
    assert httpx.get(f"{base}/v1/conversations/nope", timeout=15).status_code == 404  # still serving
