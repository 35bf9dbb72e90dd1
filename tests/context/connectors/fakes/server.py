"""What the fake vendor servers share: a real HTTP server on 127.0.0.1, scripted failures, virtual time.

A fake answers like the documented API. `script(...)` queues failures (a 429 with or without Retry-After, a
500, a throttle) that the next requests get before the real answer, and every request is recorded.
`VirtualTime` is a clock the connector sleeps on (its waits are recorded, nothing waits) and the fake reads
(Shopify's bucket refills as that time passes).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.clock import NOW


class VirtualTime:
    """Seconds that move only when someone sleeps on them (or the test says so)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start = start
        self.seconds = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Seconds since the start."""
        return self.seconds

    def sleep(self, seconds: float) -> None:
        """Record the wait and move time on by it."""
        with self._lock:
            self.sleeps.append(round(seconds, 3))
            self.seconds += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        with self._lock:
            self.seconds += seconds

    def now(self) -> datetime:
        """The wall-clock time this virtual time stands for."""
        return self.start + timedelta(seconds=self.seconds)


@dataclass
class Failure:
    """A scripted answer given instead of the real one."""

    status: int = 429
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    path_prefix: str = ""  # only requests to paths starting with this


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeServer:
    """Base of a fake vendor API served on a free loopback port; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.failures: deque[Failure] = deque()
        self.lock = threading.RLock()
        self.down = False
        self.delay_s = 0.0  # a slow vendor: every answer waits this long (real seconds)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the body waits for the client's
            # delayed ACK (~40 ms a request on loopback), which made the fake, not the connector, the bottleneck.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = orjson.loads(raw) if raw else None
                except ValueError:  # orjson.JSONDecodeError is one
                    body = None
                recorded = Recorded(method, url.path, parse_qs(url.query), dict(self.headers.items()), body)
                with fake.lock:
                    fake.requests.append(recorded)
                    failure = fake._next_failure(url.path)
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.down:
                    self.close_connection = True
                    self.connection.close()
                    return
                if failure is not None:
                    status, headers, payload = failure.status, failure.headers, failure.body
                else:
                    status, headers, payload = fake.answer(recorded)
                # orjson: a 100k-order listing spends most of the fake's time serializing (the bench prints its speed).
                data = payload if isinstance(payload, bytes) else orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to configure the connector with."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, *failures: Failure) -> None:
        """Answer the next matching requests with these failures, in order."""
        with self.lock:
            self.failures.extend(failures)

    def _next_failure(self, path: str) -> Failure | None:
        for failure in list(self.failures):
            if path.startswith(failure.path_prefix):
                self.failures.remove(failure)
                return failure
        return None

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body) of the real answer."""
        raise NotImplementedError


def iso(at: datetime) -> str:
    """Shopify's timestamp format."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
