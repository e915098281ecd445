"""The garbage collector of a serving replica, settled once its start-up is done.

A decision allocates many short-lived objects, and a replica holds a large start-up heap
(modules, sessions, catalogs) that never becomes garbage. Frozen out of the collector,
that heap is no longer scanned by a full collection (which otherwise stalls every call in
flight for tens to hundreds of milliseconds on a busy machine), and a higher young-
generation threshold makes the small pauses rarer: a young collection costs by the objects
alive in it, not by the allocations that led to it, so fewer collections cost less in all.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def settle() -> None:
    """Collects, freezes what survives and raises the young threshold: once, after start-up."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
