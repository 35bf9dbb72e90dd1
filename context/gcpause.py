"""Pausing Python's cyclic garbage collector for a bulk phase (a batch resolution, a sync)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk phase (restored as it was afterwards).

    A bulk phase allocates millions of small objects (candidate edges and pair keys of a resolution; parsed
    payloads, prepared rows and batches in flight of a sync) and each collection their allocations trigger walks
    every one still alive again, so the collector's share grows with the work in flight. These phases build no
    reference cycles (their objects are freed by reference counting as usual), and any cycle made meanwhile is
    collected once the collector is back. Pauses may nest or overlap (threads): the outermost restores.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
