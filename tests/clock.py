"""The tests' clock: a fixed "now" (the demo story's Monday 10:00 in New York) and a clock that ticks from it.

Nothing in the product reads the wall clock below the composition root, so no test depends on the day it runs.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

#: The moment every test runs at unless it says otherwise (evals.runner.DEMO_NOW, the demo story's "now").
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

_ticks = itertools.count()
_lock = threading.Lock()


def tick() -> datetime:
    """A clock that moves 1 ms forward from NOW on every call (syncs stamp batch after batch with it)."""
    with _lock:
        return NOW + timedelta(milliseconds=next(_ticks))


def fixed(at: datetime = NOW) -> datetime:
    """A clock that always says `at` (pass `lambda: fixed(t)` or `functools.partial(fixed, t)`)."""
    return at
