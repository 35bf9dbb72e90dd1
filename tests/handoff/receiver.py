"""A receiving HTTP server for delivery tests, on a free loopback port.

Each request takes the next scripted behaviour: ("status", 500), ("hang", seconds) — answer only after the
client has timed out — or ("status", 200); when the script is empty it answers 200. Every request is recorded
with its headers and raw body, so tests can verify signatures and idempotency keys as a real receiver would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None  # the status sent back (None: hung up / the client gave up)


class Receiver:
    """The scripted receiving server."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def script(self, *steps: tuple[str, Any]) -> Receiver:
        """Queue behaviours, one per request."""
        with self._lock:
            self._script.extend(steps)
        return self

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Receiver:
        """Serve in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    step = receiver._script.popleft() if receiver._script else ("status", 200)
                record = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, None)
                with receiver._lock:
                    receiver.requests.append(record)
                if step[0] == "hang":
                    receiver._stopping.wait(step[1])
                    return
                status = int(step[1])
                record.answered = status
                payload = b'{"ok": true}' if status < 300 else b'{"error": "scripted"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, n: int, timeout_s: float = 5.0) -> None:
        """Block until `n` requests arrived."""
        end = time.monotonic() + timeout_s
        while len(self.requests) < n and time.monotonic() < end:
            time.sleep(0.01)
