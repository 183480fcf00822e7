"""Keeping what a service loads at startup out of the garbage collector's way.

A full collection walks every object the process tracks: the modules, models,
schemas and connections a service sets up at startup, which live as long as it
does. Measured during `bench/join.py` (200 joins/s), each service and the bench
paused 40-110 ms for one every half minute or so, and every join in flight waited
with it. Frozen once startup is done, those objects are skipped from then on; a
full collection walks only what came after (2-10 ms in the same run).

The young generation is collected after 10,000 allocations rather than the
default 700: a service allocates in bursts (a batch of messages, an email), most
of it freed by reference counting, not by the collector. Measured during
`bench/join.py`: 235-294 young collections per service in a minute against
327-1,109, the longest 4-8 ms either way.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """Collect what startup left behind, then freeze the rest (`gc.freeze`)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
