"""Live lookups at chat time (federation): read a field group from the vendor now, within a short deadline.

`LiveLookups` implements `context.customer_context.live.LiveLookup` for the configured sources that say
`live: [fulfillment]` / `live: [subscription]`. Each object is fetched with the connector's own `fetch` (the
same query and mapping a sync uses), under one deadline for the whole context (~800 ms), without retries or
throttle waits: a chat turn never waits on a vendor. Answers are cached for `ttl_s`, and the cache drops an
object when a webhook about it arrives or its customer's profile is recomputed. A vendor that fails
`failure_threshold` lookups in a row has its circuit opened for `cooldown_s` (no requests go out; the stored
value is shown with its as-of time and a known gap), then one trial lookup decides whether it closes again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from context.customer_context.live import GROUP_COLUMNS, LiveAnswer, LiveRequest
from context.dbtypes import Clock
from context.errors import ConfigError, ContextError
from context.intake.config import IntakeConfig, SourceConfig
from context.intake.connectors import Connections, Connector, connector_class, open_connector
from context.intake.mapping import RecordMapper

log = logging.getLogger(__name__)

#: The entity whose rows a field group overlays.
GROUP_ENTITY = {"fulfillment": "order", "subscription": "subscription"}
DEFAULT_TIMEOUT_S = 0.8


@dataclass
class Breaker:
    """Consecutive failures of one vendor account, and until when its circuit stays open (clock seconds)."""

    failures: int = 0
    open_until: float = 0.0
    trial: bool = False  # a half-open trial lookup is under way
    last_error: str = ""


@dataclass
class _Cached:
    answer: LiveAnswer
    expires: float
    customer_id: str


@dataclass
class LiveLookups:
    """Per-source live lookups with a deadline, a cache invalidated by webhooks, and a circuit breaker per vendor."""

    intake: IntakeConfig
    connections: Connections
    clock: Clock
    timeout_s: float = DEFAULT_TIMEOUT_S
    ttl_s: float = 60.0
    failure_threshold: int = 3
    cooldown_s: float = 30.0
    #: Lookups sent to vendors (not cache hits, not refused by an open circuit): `contextdesk` health, tests.
    sent: int = 0
    _sources: dict[str, SourceConfig] = field(default_factory=dict)
    _connectors: dict[str, Connector] = field(default_factory=dict)
    _mappers: dict[str, RecordMapper] = field(default_factory=dict)
    _cache: dict[tuple[str, str, str], _Cached] = field(default_factory=dict)
    _breakers: dict[str, Breaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        for source in self.intake.sources:
            if not source.live:
                continue
            cls = connector_class(source.kind)
            known = sorted(cls.live_groups) if cls is not None else []
            unknown = [g for g in source.live if g not in known]
            if unknown:
                raise ConfigError(
                    f"source {source.connector_name!r}: live: {unknown} is not a field group {source.kind} "
                    f"can look up live (has {known})"
                )
            self._sources[source.name] = source

    @property
    def enabled(self) -> bool:
        """Whether any source has live lookups on."""
        return bool(self._sources)

    def groups(self, source: str) -> list[str]:
        """The groups looked up live for this stream (those of its entity: orders → fulfillment)."""
        config = self._sources.get(source)
        if config is None:
            return []
        return [g for g in config.live if GROUP_ENTITY.get(g) == config.entity]

    # ------------------------------------------------------------------ cache invalidation (webhooks, recomputes)

    def forget_object(self, connector: str, object_id: str | None) -> None:
        """A webhook about this object arrived: its cached answers are stale (all of the connector's if no id)."""
        streams = {s.name for s in self._sources.values() if s.connector_name == connector}
        with self._lock:
            for key in [k for k in self._cache if k[0] in streams and (object_id is None or k[1] == object_id)]:
                del self._cache[key]

    def forget_customers(self, customers: set[str]) -> None:
        """These customers' profiles were recomputed (an empty set: anyone's): drop their cached answers."""
        with self._lock:
            if not customers:
                self._cache.clear()
                return
            for key in [k for k, v in self._cache.items() if v.customer_id in customers]:
                del self._cache[key]

    # ------------------------------------------------------------------ lookups

    def _seconds(self) -> float:
        # Cache expiry and the circuit's cooldown follow the app's clock (tests move it); the deadline is real time.
        return self.clock().timestamp()

    def breaker(self, connector: str) -> Breaker:
        """The circuit breaker of one vendor account."""
        with self._lock:
            return self._breakers.setdefault(connector, Breaker())

    def lookup(self, requests: Sequence[LiveRequest]) -> dict[LiveRequest, LiveAnswer]:
        """Answers for every request: cached, refused by an open circuit, fetched in time, or timed out."""
        answers: dict[LiveRequest, LiveAnswer] = {}
        to_fetch: list[LiveRequest] = []
        now_s = self._seconds()
        started = time.monotonic()
        for request in dict.fromkeys(requests):
            source = self._sources.get(request.source)
            if source is None or request.group not in source.live:
                answers[request] = LiveAnswer(None, error="live lookups are off for this source")
                continue
            with self._lock:
                cached = self._cache.get((request.source, request.record_id, request.group))
            if cached is not None and cached.expires > now_s:
                answers[request] = cached.answer
                continue
            refusal = self._refused(source.connector_name, now_s)
            if refusal is not None:
                answers[request] = LiveAnswer(None, error=refusal)
                continue
            to_fetch.append(request)
        if not to_fetch:
            return answers
        pool = self._executor()
        futures: dict[Future[LiveAnswer], LiveRequest] = {pool.submit(self._fetch, r): r for r in to_fetch}
        done, _late = wait(futures, timeout=self.timeout_s, return_when=FIRST_EXCEPTION)
        # FIRST_EXCEPTION only returns early on a bug (fetch catches what a vendor can do); wait for the rest.
        if len(done) < len(futures):
            done, _late = wait(futures, timeout=max(self.timeout_s - (time.monotonic() - started), 0.0))
        for future, request in futures.items():
            if future in done and future.exception() is None:
                answers[request] = future.result()
            elif future in done:
                answers[request] = LiveAnswer(None, error=f"lookup failed: {type(future.exception()).__name__}")
            else:
                # The fetch goes on in the background (and fills the cache if it succeeds); this turn moves on.
                answers[request] = LiveAnswer(None, error=f"no answer within {int(self.timeout_s * 1000)} ms")
                self._failed(self._sources[request.source].connector_name, "timed out")
        return answers

    def _refused(self, connector: str, now_s: float) -> str | None:
        """Why the circuit refuses a lookup now (None: it may go out; a half-open circuit lets one through)."""
        with self._lock:
            breaker = self._breakers.setdefault(connector, Breaker())
            if breaker.failures < self.failure_threshold:
                return None
            if now_s < breaker.open_until or breaker.trial:
                return f"vendor unavailable, not asked ({breaker.last_error})"
            breaker.trial = True
            return None

    def _failed(self, connector: str, error: str) -> None:
        with self._lock:
            breaker = self._breakers.setdefault(connector, Breaker())
            breaker.failures += 1
            breaker.trial = False
            breaker.last_error = error
            if breaker.failures >= self.failure_threshold:
                breaker.open_until = self._seconds() + self.cooldown_s
                if breaker.failures == self.failure_threshold:
                    log.warning("live lookups to %s: circuit open for %.0f s (%s)", connector, self.cooldown_s, error)

    def _succeeded(self, connector: str) -> None:
        with self._lock:
            breaker = self._breakers.setdefault(connector, Breaker())
            if breaker.failures >= self.failure_threshold:
                log.info("live lookups to %s: circuit closed", connector)
            breaker.failures, breaker.trial, breaker.open_until = 0, False, 0.0

    def _fetch(self, request: LiveRequest) -> LiveAnswer:
        source = self._sources[request.source]
        try:
            payload = self._connector(source).fetch(request.record_id)
        except ContextError as exc:
            reason = _reason(exc)
            self._failed(source.connector_name, reason)
            return LiveAnswer(None, error=reason)
        self._succeeded(source.connector_name)
        with self._lock:
            self.sent += 1
        answer = LiveAnswer(self._values(source, request, payload), fetched_at=self.clock())
        if answer.values is not None:
            with self._lock:
                self._cache[(request.source, request.record_id, request.group)] = _Cached(
                    answer, self._seconds() + self.ttl_s, request.customer_id
                )
        return answer

    def _values(self, source: SourceConfig, request: LiveRequest, payload: Mapping[str, Any] | None) -> Any:
        if payload is None:
            return None  # gone at the vendor: the next sync or webhook tombstones it; show what is stored
        with self._lock:
            mapper = self._mappers.get(source.name)
            if mapper is None:
                mapper = self._mappers[source.name] = RecordMapper(self.intake, source)
        mapped = mapper.map(dict(payload), request.record_id)
        return {c: mapped.entity.get(c) for c in GROUP_COLUMNS[request.group]}

    def _connector(self, source: SourceConfig) -> Connector:
        with self._lock:
            connector = self._connectors.get(source.name)
            if connector is None:
                connector = self._connectors[source.name] = open_connector(source, self.connections)
        return connector

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="live-lookup")
            return self._pool

    def close(self) -> None:
        """Stop the lookup threads and release connections."""
        with self._lock:
            pool, self._pool = self._pool, None
            connectors = list(self._connectors.values())
            self._connectors.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for connector in connectors:
            connector.close()


def _reason(exc: ContextError) -> str:
    """A short reason for a gap (no URL or body: the gap reaches the prompt)."""
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return "the vendor refused the credentials"
    if status is not None:
        return f"the vendor answered {status}"
    text = str(exc)
    if "timed out" in text:
        return "timed out"
    return "vendor unreachable"


def live_connections(connections: Connections, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Connections:
    """Connections for chat-time lookups: the same credentials, one attempt, a short timeout, no throttle waits.

    Its own throttles (a sync's backoff must not hold a chat turn), and waits are not slept: a vendor that is
    rate limiting answers 429 at once, which the turn reports as a gap.
    """
    return Connections(
        credentials=connections.credentials,
        clock=connections.clock,
        sleep=lambda _s: None,
        monotonic=connections.monotonic,
        random=connections.random,
        timeout_s=timeout_s,
        attempts=1,
    )
