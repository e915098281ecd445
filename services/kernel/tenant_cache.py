"""A per-tenant in-memory cache that every replica drops on an event (never by time).

`get(uow, tenant)` loads on first use, in the caller's transaction; the event named by
`filter_subject` reaches every replica through a broadcast subscription and drops the
tenant's entry, so the next use loads afresh; a gap in the broadcast drops every entry. A
load racing a drop is not kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope

U = TypeVar("U")
T = TypeVar("T")


class TenantCache(Generic[U, T]):
    """Tenant -> what `load(uow, tenant)` answered, until the tenant's next event."""

    def __init__(
        self, load: Callable[[U, str], T], *, name: str, stream: str, filter_subject: str
    ) -> None:
        self._load = load
        self._spec = (name, stream, filter_subject)
        self._values: dict[str, T] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, uow: U, tenant_id: str) -> T:
        with self._lock:
            found, generation = self._values.get(tenant_id), self._generation
        if found is not None:
            return found
        value = self._load(uow, tenant_id)
        with self._lock:
            if generation == self._generation:
                self._values[tenant_id] = value
        return value

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._values.pop(tenant_id, None)

    async def on_published(self, envelope: Envelope) -> None:
        self.invalidate(envelope.tenant_id)

    async def clear(self) -> None:
        """At start and after a gap in the broadcast (events may have been missed): every
        tenant loads afresh."""
        with self._lock:
            self._generation += 1
            self._values.clear()

    def broadcast(self) -> BroadcastSpec:
        name, stream, filter_subject = self._spec
        return BroadcastSpec(
            name=name,
            stream=stream,
            filter_subject=filter_subject,
            handler=self.on_published,
            load=self.clear,
        )
