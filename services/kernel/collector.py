"""The cyclic garbage collector set for a long-running service process.

A service allocates many short-lived objects per message (events, rows, protobuf
messages, dataclasses), nearly all freed by reference counting. With CPython's default
thresholds (700, 10, 10) the collector still ran every few messages, and each older
collection walked every object start-up made (modules, SQLAlchemy metadata, protobuf
descriptors, caches): about a fifth of identity's CPU per ingested event (bench figure 9).
So once start-up is done its objects are frozen out of the collector's sight, and young
collections run after YOUNG allocations instead of 700 (cycles still get collected).
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # container allocations (net of frees) between young collections
OLDER = (10, 10)  # CPython's: a young collection in ten promotes to the next generation


def settle() -> None:
    """Call once start-up is done: collects, freezes what survived, spaces collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *OLDER)
