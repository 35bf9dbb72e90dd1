"""Per-minute rate limits of the chat API, counted in process memory or, across server processes, in Redis.

A sliding window per key: the times of the last minute's events. `RateLimiter` is what the chat service calls;
where the windows live is its `WindowStore`: `MemoryWindows` (the default: one server process holds them) or
`RedisWindows` (CONTEXTDESK_REDIS_URL: every worker of a deployment counts in the same windows, docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from agent.config import Limits
from agent.errors import MessageTooLong, RateLimited

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

WINDOW_S = 60.0


#: One count: (kind, key, limit).
Hit = tuple[str, str, int]


class WindowStore(Protocol):
    """Where the sliding windows live."""

    def hit(self, kind: str, key: str, limit: int, *, now: float | None = None) -> float | None:
        """Count one event unless the key had `limit` in the last minute; then return seconds until one expires."""
        ...

    def hit_many(self, hits: Sequence[Hit], *, now: float | None = None) -> tuple[int, float] | None:
        """`hit` for each in order, stopping at the first refused: (its index, seconds until one expires)."""
        ...


class MemoryWindows:
    """Windows in this process's memory (`now` defaults to the monotonic clock)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, kind: str, key: str, limit: int, *, now: float | None = None) -> float | None:
        """Count one event unless the key had `limit` in the last minute; then return seconds until one expires."""
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._events.setdefault((kind, key), deque())
            while window and now - window[0] >= WINDOW_S:
                window.popleft()
            if len(window) >= limit:
                return WINDOW_S - (now - window[0])
            window.append(now)
            if len(self._events) > 100_000:  # forget idle keys so memory stays bounded
                for k in [k for k, w in self._events.items() if not w or now - w[-1] >= WINDOW_S]:
                    del self._events[k]
        return None

    def hit_many(self, hits: Sequence[Hit], *, now: float | None = None) -> tuple[int, float] | None:
        """`hit` for each in order, stopping at the first refused: (its index, seconds until one expires)."""
        for i, (kind, key, limit) in enumerate(hits):
            wait_s = self.hit(kind, key, limit, now=now)
            if wait_s is not None:
                return i, wait_s
        return None


# One round trip for all of a request's counts, atomic: for each key in order drop the events older than the
# window, refuse at its limit (returning the key's 1-based index and the wait), else add this one.
# Times are milliseconds of the Redis server's clock (one clock for every worker) unless the caller passes one.
# ARGV: window ms, now ms (-1: the server's), the event's member, then one limit per key.
_HIT_SCRIPT = """
local now = tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return false
"""


class RedisWindows:
    """Windows in Redis, shared by every process that uses the same server and prefix.

    Keys are hashes of (kind, key), so Redis never holds a client's address or a conversation id. While Redis is
    unreachable each process counts in its own memory (limits per process instead of none) and logs it once.
    """

    def __init__(self, client: Redis, *, prefix: str = "contextdesk:rate:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_HIT_SCRIPT)
        self._fallback = MemoryWindows()
        self._degraded = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "contextdesk:rate:") -> RedisWindows:
        """Windows in the Redis server at `url` (redis://host:port/db); short timeouts: a chat turn waits little."""
        from redis import Redis

        return cls(Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5), prefix=prefix)

    def hit(self, kind: str, key: str, limit: int, *, now: float | None = None) -> float | None:
        """Count one event unless the key had `limit` in the last minute; then return seconds until one expires."""
        refused = self.hit_many([(kind, key, limit)], now=now)
        return None if refused is None else refused[1]

    def hit_many(self, hits: Sequence[Hit], *, now: float | None = None) -> tuple[int, float] | None:
        """`hit` for each in order, stopping at the first refused: (its index, seconds until one expires)."""
        from redis import RedisError

        keys = [self._prefix + hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:32] for kind, key, _ in hits]
        now_ms = -1 if now is None else int(now * 1000)
        try:
            refused = self._script(
                keys=keys,
                args=[int(WINDOW_S * 1000), now_ms, secrets.token_hex(8), *(limit for _, _, limit in hits)],
            )
        except RedisError as exc:
            if not self._degraded:
                log.warning("rate limits: Redis unreachable (%s); counting in this process until it answers", exc)
                self._degraded = True
            return self._fallback.hit_many(hits, now=now)
        if self._degraded:
            log.warning("rate limits: Redis answers again; shared windows resumed")
            self._degraded = False
        return None if refused is None else (int(refused[0]) - 1, float(refused[1]) / 1000)


class RateLimiter:
    """Sliding one-minute windows keyed by (kind, key), in `store` (this process's memory by default)."""

    def __init__(self, store: WindowStore | None = None) -> None:
        self.store: WindowStore = store if store is not None else MemoryWindows()

    def hit(self, kind: str, key: str, limit: int, *, now: float | None = None) -> None:
        """Count one event; raise RateLimited when the key already had `limit` in the last minute."""
        wait_s = self.store.hit(kind, key, limit, now=now)
        if wait_s is not None:
            raise RateLimited(kind, limit, max(1.0, wait_s))

    def hit_all(self, hits: Sequence[Hit], *, now: float | None = None) -> None:
        """Count each event in order (one round trip to the store); RateLimited for the first already at its limit."""
        refused = self.store.hit_many(hits, now=now)
        if refused is not None:
            index, wait_s = refused
            kind, _, limit = hits[index]
            raise RateLimited(kind, limit, max(1.0, wait_s))


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    """The limiter of a server: shared windows in Redis when a URL is configured, else this process's memory."""
    return RateLimiter(RedisWindows.from_url(redis_url) if redis_url else None)


def check_message(content: str, limits: Limits) -> None:
    """Reject a message over the configured size."""
    if len(content) > limits.max_message_chars:
        raise MessageTooLong(len(content), limits.max_message_chars)
