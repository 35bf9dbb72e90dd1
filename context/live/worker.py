"""The inbox worker: a background thread that processes received webhooks as soon as they are stored.

The webhook route stores a delivery and calls `notify`; the thread wakes, runs `process_pending` (which batches
whatever arrived meanwhile into one identity + profile pass) and sleeps until the next delivery or poll.
"""

from __future__ import annotations

import logging
import threading

from context.live.propagate import ProcessSummary, PropagationDeps, process_pending

log = logging.getLogger(__name__)


class InboxWorker:
    """Runs `process_pending` in a daemon thread until stopped."""

    def __init__(self, deps: PropagationDeps, *, poll_interval_s: float = 5.0) -> None:
        self.deps = deps
        self.poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.last = ProcessSummary()

    def notify(self) -> None:
        """A delivery was stored: process now rather than at the next poll."""
        self._wake.set()

    def start(self) -> InboxWorker:
        """Start the thread (its first pass picks up what a crash left pending)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="webhook-inbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the current pass and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self.deps.close()

    def _loop(self) -> None:
        try:
            with self.deps.lock:
                self.deps.open_connectors()  # not in the first delivery's latency
        except Exception:
            log.exception("opening connectors ahead failed")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while True:
                    self.last = process_pending(deps=self.deps)
                    self.passes += 1
                    if self.last.claimed == 0 or self._stop.is_set():
                        break
            except Exception:  # a bug must not kill the thread: the rows stay in the inbox for the next pass
                log.exception("webhook inbox pass failed")
            self._wake.wait(self.poll_interval_s)
