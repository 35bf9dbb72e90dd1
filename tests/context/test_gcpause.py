"""The garbage-collector pause of bulk phases: off while any phase runs, back as it was after the last."""

from __future__ import annotations

import gc

from context.gcpause import cyclic_gc_paused


def test_overlapping_pauses_keep_the_collector_off_until_the_last_one_ends() -> None:
    assert gc.isenabled()
    first, second = cyclic_gc_paused(), cyclic_gc_paused()  # e.g. a sync and a resolution in two threads
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first one to start ends first
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
