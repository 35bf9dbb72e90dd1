"""The HTTP side every connector shares: one throttler per vendor account, retries with backoff and jitter.

A `Throttle` is driven by what the vendor says: `Retry-After` (seconds or an HTTP date), the common
`X-RateLimit-Remaining`/`X-RateLimit-Reset` pair, HubSpot's `X-HubSpot-RateLimit-Remaining` with its
`-Interval-Milliseconds` window, and Shopify's GraphQL cost budget. It only ever delays the
next request; `sleep` and `random` are injected so tests can see how long a connector waited, without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from context.dbtypes import Clock
from context.errors import ConnectorAuthError, ConnectorError

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


@dataclass
class Throttle:
    """When the next request to one vendor account may go out (shared by all its streams and threads)."""

    clock: Clock
    sleep: Callable[[float], None]
    monotonic: Callable[[], float] = time.monotonic
    _not_before: float = 0.0  # monotonic seconds
    _lock: threading.Lock = field(default_factory=threading.Lock)
    waited: list[float] = field(default_factory=list)  # every wait, for progress output and tests

    def delay(self, seconds: float) -> None:
        """Hold every request for at least `seconds` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self.monotonic() + max(seconds, 0.0))

    def wait(self) -> None:
        """Block until the vendor's budget allows the next request."""
        with self._lock:
            pause = self._not_before - self.monotonic()
        if pause > 0:
            self.waited.append(round(pause, 3))
            self.sleep(pause)

    def observe(self, response: httpx.Response) -> float | None:
        """Read the rate-limit headers of a response; returns the Retry-After seconds if given."""
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock)
        if retry_after is not None:
            self.delay(retry_after)
            return retry_after
        headers = response.headers
        remaining = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
        reset = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
        # HubSpot counts requests in a rolling window (10 s) and says how long it is, not when it resets.
        window_ms = headers.get("x-hubspot-ratelimit-interval-milliseconds")
        try:
            if remaining is not None and reset is not None and float(remaining) <= 0:
                value = float(reset)
                # Some vendors send an epoch second (Intercom), others seconds to wait (Zendesk).
                now = self.clock().timestamp()
                self.delay(value - now if value > 1e9 else value)
            hubspot_left = headers.get("x-hubspot-ratelimit-remaining")
            if hubspot_left is not None and window_ms is not None and float(hubspot_left) <= 0:
                self.delay(float(window_ms) / 1000)
        except ValueError:
            pass
        return None

    def observe_cost(self, *, available: float, restore_rate: float, needed: float) -> None:
        """Shopify's leaky bucket: wait until `needed` points are back if fewer are available."""
        if restore_rate > 0 and available < needed:
            self.delay((needed - available) / restore_rate)


def parse_retry_after(value: str | None, clock: Clock) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - clock()).total_seconds(), 0.0)


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits random() * min(cap, base * 2**n)."""

    attempts: int = 6
    base_s: float = 0.5
    random: Callable[[], float] = field(default=lambda: 0.5)

    def backoff(self, attempt: int) -> float:
        """The pause before retry number `attempt` (0-based) when the vendor did not say how long."""
        return self.random() * min(MAX_BACKOFF_S, self.base_s * (2**attempt))


class VendorHTTP:
    """An httpx client for one vendor account: auth headers, throttle, retries, and errors that name the source."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        headers: Mapping[str, str],
        throttle: Throttle,
        retry: RetryPolicy,
        timeout_s: float = 30.0,
        auth_hint: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.throttle = throttle
        self.retry = retry
        self.auth_hint = auth_hint
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=dict(headers), timeout=timeout_s, transport=transport
        )
        self.requests = 0

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        timeout_s: float | None = None,
        retries: bool = True,
        retry_when: Callable[[httpx.Response], float | None] | None = None,
    ) -> httpx.Response:
        """Send one request, waiting for the throttle and retrying what is worth retrying.

        `retry_when(response)` lets a vendor say a 200 is a throttle (Shopify's THROTTLED error) and how long to
        wait. 401/403 raise ConnectorAuthError at once; other 4xx raise ConnectorError naming the call. `headers`
        and `content` are for an SDK that builds its own requests (Stripe's, through its HTTP client interface).
        """
        attempts = self.retry.attempts if retries else 1
        last: str = ""
        for attempt in range(attempts):
            self.throttle.wait()
            self.requests += 1
            try:
                kwargs: dict[str, Any] = {"params": params, "json": json}
                if headers is not None:
                    kwargs["headers"] = headers
                if content is not None:
                    kwargs["content"] = content
                if timeout_s is not None:
                    kwargs["timeout"] = timeout_s
                response = self.client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                last = f"{method} {path}: timed out"
                if attempt + 1 < attempts:
                    self.throttle.delay(self.retry.backoff(attempt))
                continue
            except httpx.TransportError as exc:
                last = f"{method} {path}: {type(exc).__name__}: {exc}"
                if attempt + 1 < attempts:
                    self.throttle.delay(self.retry.backoff(attempt))
                continue
            told = self.throttle.observe(response)
            if response.status_code in (401, 403):
                raise ConnectorAuthError(
                    self.source,
                    f"{method} {path}: the vendor refused the credentials ({response.status_code})"
                    + (f"; {self.auth_hint}" if self.auth_hint else ""),
                    status=response.status_code,
                )
            if response.status_code in RETRY_STATUSES:
                last = f"{method} {path}: {response.status_code} {_short(response)}"
                if told is None and attempt + 1 < attempts:
                    self.throttle.delay(self.retry.backoff(attempt))
                continue
            if response.status_code >= 400:
                raise ConnectorError(
                    self.source,
                    f"{method} {path}: {response.status_code} {_short(response)}",
                    status=response.status_code,
                )
            if retry_when is not None:
                wait = retry_when(response)
                if wait is not None:
                    last = f"{method} {path}: throttled by the vendor"
                    self.throttle.delay(wait)
                    continue
            return response
        raise ConnectorError(self.source, f"gave up after {attempts} attempts: {last}")


def _short(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200]
