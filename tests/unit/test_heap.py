"""`services.kit.heap`: what startup loaded is frozen out of the collector's way."""

from __future__ import annotations

import gc

from services.kit import heap


def test_freezing_moves_the_live_heap_out_of_collections() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    kept = [{"n": n} for n in range(10_000)]
    try:
        heap.freeze_startup_heap()
        assert gc.get_freeze_count() >= len(kept)
        # A full collection no longer walks them: only what came after is tracked.
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count()
        # Young collections come after 10,000 allocations, not 700.
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()  # the rest of the suite runs in this process
        gc.set_threshold(*thresholds)
    assert gc.get_freeze_count() == 0
