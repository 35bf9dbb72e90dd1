"""A small OpenAI-compatible chat server for tests, served over real HTTP on 127.0.0.1.

It implements `POST /v1/chat/completions` (plain and `stream=true`, with `usage`) and `GET /v1/models`.
Each request takes the next scripted `Scripted` reply from a queue (or asks `responder` when the queue
is empty), so a test can say "two 500s, then this JSON" and then inspect what the client sent:

    fake.script(Scripted(status=500), Scripted(status=500), Scripted(content=answer_json("Hi")))
    ...
    assert len(fake.requests) == 3

Scripted replies can be slow (`delay_s`), carry headers (`Retry-After`), or drop a stream mid-way
(`drop_after_chars`: the connection is closed without finishing the chunked body, as a crashed
upstream or a cut proxy would).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """One scripted reply of the fake server."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_body: dict[str, Any] | None = None  # body of an error reply; a generic OpenAI-style error if None
    delay_s: float = 0.0  # wait before sending anything (a slow upstream)
    usage: tuple[int, int] | None = (-1, -1)  # (prompt, completion); -1 = count words; None = send no usage
    drop_after_chars: int | None = None  # streaming only: cut the connection after this many content characters
    chunk_chars: int = 6  # streaming: content characters per delta
    chunk_delay_s: float = 0.0  # streaming: pause between deltas


@dataclass
class RecordedRequest:
    """What the client sent, with when it arrived and the usage the server reported back."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    usage_sent: tuple[int, int] | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request."""
        return list(self.body.get("messages", []))

    @property
    def stream(self) -> bool:
        """Whether the client asked for a stream."""
        return bool(self.body.get("stream"))


def answer_json(
    answer: str,
    *,
    cited_passage_ids: list[str] | None = None,
    context_fields_used: list[str] | None = None,
    confidence: float = 0.9,
    escalate: bool = False,
    escalation_reason: str | None = None,
) -> str:
    """The JSON text a well-behaved model returns for an AgentAnswer (answer first, as the prompt asks)."""
    return json.dumps(
        {
            "answer": answer,
            "cited_passage_ids": cited_passage_ids or [],
            "context_fields_used": context_fields_used or [],
            "confidence": confidence,
            "escalate": escalate,
            "escalation_reason": escalation_reason,
        }
    )


def _words(text: str) -> int:
    return len(text.split())


class FakeOpenAI:
    """The scripted OpenAI-compatible server; start with `start()` (the `fake_openai` fixture does it)."""

    def __init__(self, models: list[str] | None = None) -> None:
        self.models = models or ["fake-primary", "fake-fallback"]
        self.requests: list[RecordedRequest] = []
        self.responder: Callable[[RecordedRequest], Scripted] | None = None
        self._queue: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -----------------------------------------------------------------------------
    def script(self, *replies: Scripted) -> FakeOpenAI:
        """Queue replies, served one per request in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def reply(self, content: str, **kwargs: Any) -> FakeOpenAI:
        """Queue one successful reply with this assistant content."""
        return self.script(Scripted(content=content, **kwargs))

    def fail(self, status: int, *, retry_after: str | None = None, **kwargs: Any) -> FakeOpenAI:
        """Queue one error reply (optionally with a Retry-After header)."""
        headers = dict(kwargs.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return self.script(Scripted(status=status, headers=headers, **kwargs))

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. http://127.0.0.1:54321/v1."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        """Listen on a free loopback port and serve in a daemon thread."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, and tests stop a server each.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow replies still sleeping are woken and abandoned."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- used by the handler -------------------------------------------------------------------
    def _pause(self, seconds: float) -> bool:
        """Sleep `seconds` (a slow upstream); True if the server is stopping meanwhile.

        Short sleeps, not `Event.wait(timeout)`: under `faketime` (CI's shifted-clock run) a timed wait on a
        lock never expires, because libfaketime shifts the monotonic clock Python computes the lock's
        deadline from but not the semaphore wait itself; `time.sleep` is shifted consistently.
        """
        end = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.01))
        return True

    def _next(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Scripted(status=500, error_body={"error": {"message": "fake server: no scripted reply left"}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like real servers
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def handle(self) -> None:
        # A client that gave up (timeout) closes its socket while we sleep; that is expected here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/v1/models"):
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.server_fake.models]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/v1/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body = json.loads(raw or b"{}")
        fake = self.server_fake
        request = RecordedRequest(
            path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body, at=time.monotonic()
        )
        scripted = fake._next(request)
        if scripted.delay_s and fake._pause(scripted.delay_s):
            return
        if scripted.status != 200:
            error = scripted.error_body or {
                "error": {"message": f"scripted HTTP {scripted.status}", "type": "server_error", "code": None}
            }
            self._send_json(scripted.status, error, scripted.headers)
            return
        usage = self._usage(scripted, body)
        request.usage_sent = usage
        if body.get("stream"):
            self._stream(scripted, body, usage)
        else:
            self._send_json(200, self._completion(scripted, body, usage), scripted.headers)

    @staticmethod
    def _usage(scripted: Scripted, body: dict[str, Any]) -> tuple[int, int] | None:
        if scripted.usage is None:
            return None
        prompt, completion = scripted.usage
        if prompt < 0:
            prompt = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
        if completion < 0:
            completion = _words(scripted.content)
        return prompt, completion

    @staticmethod
    def _usage_json(usage: tuple[int, int]) -> dict[str, int]:
        return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}

    def _completion(self, scripted: Scripted, body: dict[str, Any], usage: tuple[int, int] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": scripted.content},
                    "finish_reason": "stop",
                }
            ],
        }
        if usage is not None:
            payload["usage"] = self._usage_json(usage)
        return payload

    def _chunk(self, data: str) -> None:
        encoded = data.encode()
        self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
        self.wfile.flush()

    def _stream(self, scripted: Scripted, body: dict[str, Any], usage: tuple[int, int] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in scripted.headers.items():
            self.send_header(key, value)
        self.end_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
        }

        def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            self._chunk("data: " + json.dumps({**base, "choices": choices, **extra}) + "\n\n")

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        content = scripted.content
        sent = 0
        while sent < len(content):
            if scripted.drop_after_chars is not None and sent >= scripted.drop_after_chars:
                self._drop()
                return
            piece = content[sent : sent + scripted.chunk_chars]
            if scripted.drop_after_chars is not None:
                piece = piece[: max(1, scripted.drop_after_chars - sent)]
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            sent += len(piece)
            if scripted.chunk_delay_s and self.server_fake._pause(scripted.chunk_delay_s):
                return
        if scripted.drop_after_chars is not None:
            self._drop()
            return
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            event([], usage=self._usage_json(usage))
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")  # end of the chunked body
        self.wfile.flush()

    def _drop(self) -> None:
        # Close without the terminating zero-length chunk: the client sees an incomplete body.
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
