"""Per-minute rate limits of the chat API (in process memory; one server process holds them).

A sliding window per key: the timestamps of the last minute's events. Cheap for chat volumes; a deployment
with several server processes should put a proxy limit in front as well (documented in docs/agent.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from agent.config import Limits
from agent.errors import MessageTooLong, RateLimited

WINDOW_S = 60.0


class RateLimiter:
    """Sliding one-minute windows keyed by (kind, key)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, kind: str, key: str, limit: int, *, now: float | None = None) -> None:
        """Count one event; raise RateLimited when the key already had `limit` in the last minute."""
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._events.setdefault((kind, key), deque())
            while window and now - window[0] >= WINDOW_S:
                window.popleft()
            if len(window) >= limit:
                raise RateLimited(kind, limit, max(1.0, WINDOW_S - (now - window[0])))
            window.append(now)
            if len(self._events) > 100_000:  # forget idle keys so memory stays bounded
                for k in [k for k, w in self._events.items() if not w or now - w[-1] >= WINDOW_S]:
                    del self._events[k]


def check_message(content: str, limits: Limits) -> None:
    """Reject a message over the configured size."""
    if len(content) > limits.max_message_chars:
        raise MessageTooLong(len(content), limits.max_message_chars)
