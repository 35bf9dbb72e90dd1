"""The outbox worker: a background thread that turns escalations into handoffs and delivers them.

It runs one pass at start (crash-safe resume: escalations without a handoff and undelivered outbox rows are
picked up), then one pass whenever the chat service reports an escalation (`notify`) or every
`poll_interval_s`. The app factory's lifespan starts and stops it; `contextdesk handoff deliver` runs the
same passes in the foreground.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from handoff.service import HandoffDeps, run_once

log = logging.getLogger(__name__)


class ShuttingDown(Exception):
    """Raised inside a backoff sleep when the worker stops."""


class OutboxWorker:
    """Runs `run_once` in a daemon thread until stopped."""

    def __init__(self, deps: HandoffDeps) -> None:
        self.deps = deps
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.last: dict[str, Any] = {}

    def notify(self, request_id: int | None = None) -> None:
        """An escalation was stored: run a pass now rather than at the next poll."""
        self._wake.set()

    def start(self) -> OutboxWorker:
        """Start the thread (the first pass resumes whatever a crash left behind)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="handoff-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to finish its pass and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.last = run_once(self.deps, sleep=self._sleep)
            except ShuttingDown:
                break
            except Exception:  # the database may be briefly unreachable; try again at the next poll
                log.exception("handoff outbox pass failed")
            self.passes += 1
            self._wake.wait(self.deps.config.poll_interval_s)

    def _sleep(self, seconds: float) -> None:
        # A shutdown during a backoff abandons the delivery as a crash would (it stays claimed until its lease
        # expires, then any worker resumes it) instead of burning the remaining retries without waiting.
        if self._stop.wait(seconds):
            raise ShuttingDown("the outbox worker is stopping")
