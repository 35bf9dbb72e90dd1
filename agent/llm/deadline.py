"""An overall time budget for one turn, shared by every attempt, retry wait and fallback in it."""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """Seconds left until a fixed point in time (monotonic clock by default)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds <= 0:
            raise ValueError(f"deadline_s must be positive, got {seconds}")
        self._clock = clock
        self.start = clock()
        self.end = self.start + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.end - self._clock()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.remaining() <= 0

    def elapsed_ms(self) -> float:
        """Milliseconds since the deadline was set."""
        return (self._clock() - self.start) * 1000.0
