"""The outbox worker: background threads that turn escalations into handoffs and deliver them.

Two loops, so one never waits on the other: the intake loop creates handoffs (summary + outbox rows) as soon
as the chat service reports an escalation (`notify`) or every `poll_interval_s`; the delivery loop hands each
due delivery to a small pool — one attempt each, retries scheduled on the row, so a hanging or failing target
delays neither the inbox nor other deliveries. Both run a pass at start (crash-safe resume). The app factory's
lifespan starts and stops the worker; `contextdesk handoff deliver` runs the same steps in the foreground.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from handoff import outbox
from handoff.service import HandoffDeps, create_pending

log = logging.getLogger(__name__)


class OutboxWorker:
    """Runs the intake and delivery loops in daemon threads until stopped."""

    def __init__(self, deps: HandoffDeps, *, delivery_workers: int = 4) -> None:
        self.deps = deps
        self._wake_intake = threading.Event()
        self._wake_delivery = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._workers = delivery_workers
        self._inflight: dict[int, Future[outbox.DeliveryOutcome]] = {}
        self._lock = threading.Lock()
        self.passes = 0
        self.last: dict[str, Any] = {}

    def notify(self, request_id: int | None = None) -> None:
        """An escalation was stored: create its handoff now rather than at the next poll."""
        self._wake_intake.set()

    def start(self) -> OutboxWorker:
        """Start the threads (the first passes resume whatever a crash left behind)."""
        if not any(t.is_alive() for t in self._threads):
            self._stop.clear()
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="handoff-delivery")
            self._threads = [
                threading.Thread(target=self._intake_loop, name="handoff-intake", daemon=True),
                threading.Thread(target=self._delivery_loop, name="handoff-outbox", daemon=True),
            ]
            for t in self._threads:
                t.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the threads to finish and wait for them (an attempt in flight ends within its timeout)."""
        self._stop.set()
        self._wake_intake.set()
        self._wake_delivery.set()
        for t in self._threads:
            t.join(timeout=timeout_s)
        if self._pool is not None:
            # An attempt cut short here is resumed by any worker once its lease expires.
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _intake_loop(self) -> None:
        while not self._stop.is_set():
            self._wake_intake.clear()
            try:
                created = create_pending(self.deps)
                self.last = {"created": created}
                if created:
                    self._wake_delivery.set()
            except Exception:  # the database may be briefly unreachable; try again at the next poll
                log.exception("handoff intake pass failed")
            self.passes += 1
            self._wake_intake.wait(self.deps.config.poll_interval_s)

    def _delivery_loop(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            self._wake_delivery.clear()
            wait_s = self.deps.config.poll_interval_s
            try:
                with self._lock:
                    self._inflight = {i: f for i, f in self._inflight.items() if not f.done()}
                    for delivery_id in outbox.due(self.deps.engine, now=self.deps.now()):
                        if delivery_id not in self._inflight:  # a slow attempt is not started twice
                            future = self._pool.submit(self._attempt, delivery_id)
                            self._inflight[delivery_id] = future
                soonest = outbox.next_due_in(self.deps.engine, now=self.deps.now())
                if soonest is not None:
                    wait_s = min(wait_s, soonest)
            except RuntimeError:  # the pool was shut down: stopping
                break
            except Exception:
                log.exception("handoff delivery pass failed")
            self._wake_delivery.wait(max(wait_s, 0.005))

    def _attempt(self, delivery_id: int) -> outbox.DeliveryOutcome:
        d = self.deps
        try:
            return outbox.deliver_one(d.engine, delivery_id, targets=d.targets, retry=d.config.retry, clock=d.now)
        finally:
            self._wake_delivery.set()  # its retry time (or the next due row) is worth looking at now
