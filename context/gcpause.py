"""Pausing Python's cyclic garbage collector for a bulk phase (a batch resolution, a sync)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_PAUSES = 0  # bulk phases running now, in any thread
_RESTORE = False  # whether the collector was on when the first of them began


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk phase (restored as it was afterwards).

    A bulk phase allocates millions of small objects (candidate edges and pair keys of a resolution; parsed
    payloads, prepared rows and batches in flight of a sync) and each collection their allocations trigger walks
    every one still alive again, so the collector's share grows with the work in flight. These phases build no
    reference cycles (their objects are freed by reference counting as usual), and any cycle made meanwhile is
    collected once the collector is back. Pauses may nest or overlap in several threads: the collector comes
    back when the last of them ends, not when the first one started does.
    """
    global _PAUSES, _RESTORE
    with _LOCK:
        if _PAUSES == 0:
            _RESTORE = gc.isenabled()
            gc.disable()
        _PAUSES += 1
    try:
        yield
    finally:
        with _LOCK:
            _PAUSES -= 1
            if _PAUSES == 0 and _RESTORE:
                gc.enable()
