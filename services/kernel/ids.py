"""Random ids and bytes from the OS's CSPRNG, read a block at a time.

Every stored and published event gets an id, several per ingested event, and every
sealed value a nonce: a `getrandom` call each costs more than what uses it (and
`str(uuid.uuid4())` builds a UUID object on top). Each thread reads 4 KiB at once
and hands out its bytes once each; a forked child reads afresh.
"""

from __future__ import annotations

import os
import threading
import uuid

BLOCK = 4096
_NAMESPACE = uuid.UUID("6c1f4a8e-2f0b-5d3c-9a41-0c7e5b2d8f10")  # stable ids
_VARIANT = "89ab"  # the RFC 4122 variant: the 17th hex digit's top bits are 10


class _Block(threading.local):
    data = b""
    at = 0


_block = _Block()


def _read_afresh() -> None:
    _block.data, _block.at = b"", 0


os.register_at_fork(after_in_child=_read_afresh)  # never the parent's bytes again


def random_bytes(n: int) -> bytes:
    """`n` bytes from `os.urandom`, each handed out once."""
    block = _block
    if block.at + n > len(block.data):
        block.data, block.at = os.urandom(max(BLOCK, n)), 0
    start = block.at
    block.at = start + n
    return block.data[start : start + n]


def new_id() -> str:
    """A random (version 4) UUID in its canonical text form."""
    h = random_bytes(16).hex()
    variant = _VARIANT[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def stable_id(tenant_id: str, name: str) -> str:
    """A UUID that is the same for the same tenant and name, every time (RFC 9562 version 5);
    JetStream dedupes message ids per stream, across tenants, so the tenant is part of it."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{name}"))
