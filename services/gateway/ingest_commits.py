"""Group commit of ingest: the accepted events of concurrent requests made durable together.

With `sync_interval: always` each JetStream message costs a disk flush, and each store
transaction a commit. So requests do not each publish: they queue their fresh events
here, and one drain at a time takes all that is queued (up to `max_bytes`), looks up
their message ids in one read, writes one INGEST message per tenant, remembers the
accepted ids in one transaction and answers every request. A request arriving during a
drain waits for the next, which takes everything that arrived meanwhile: under load
the batches grow and the flushes per event fall; alone, a request is written at once.

Idempotency holds per event: an id the store holds within its window, or one an earlier
request of the same drain carries, is a duplicate; and when two replicas (or drains)
publish the same id at once, the store's insert lets one win and the other is told
duplicate (its copy reaches consumers, whose inboxes drop it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.gateway.ports import GatewayUnitOfWork
from services.kernel.service_layer import Layer
from services.kernel.store.records import OutboxMessage

DEFAULT_MAX_BYTES = 768 * 1024  # one message stays under NATS' default 1 MB max_payload


@dataclass(frozen=True)
class Published:
    """Where one event is: the stream position of the message holding it (events written
    together share it), and whether it was a repeat of one accepted before."""

    sequence: int
    duplicate: bool


class IngestLog(Protocol):
    """The INGEST stream: one tenant's events durable together once `append` returns."""

    async def append(self, messages: Sequence[OutboxMessage]) -> int:
        """Writes the events as one message; returns its stream position."""
        ...


def _fail(group: list[_Commit], error: Exception) -> None:
    for c in group:
        if not c.done.done():
            c.done.set_exception(error)


@dataclass(frozen=True)
class Fresh:
    """An event a request found good and new: its client message id and its message."""

    message_id: str
    message: OutboxMessage


@dataclass(eq=False)  # each queued commit is its own
class _Commit:
    tenant_id: str
    events: Sequence[Fresh]
    now: datetime
    expire_time: datetime
    size: int
    done: asyncio.Future[list[Published]]
    answers: list[Published | None] = field(default_factory=list)


_Accepted = list[tuple[str, dict[str, int], datetime]]  # (tenant, id -> position, window end)
_Repeats = list[tuple["_Commit", int, tuple["_Commit", int]]]  # (commit, index) repeats first


def seen_message_ids(
    uow: GatewayUnitOfWork, wanted: Mapping[str, set[str]], now: datetime
) -> dict[str, dict[str, int]]:
    """Per tenant, the ids among those wanted it accepted within their window."""
    return {t: uow.message_ids.seen(t, ids, now) for t, ids in wanted.items() if ids}


def remember_message_ids(
    uow: GatewayUnitOfWork,
    accepted: Sequence[tuple[str, Mapping[str, int], datetime]],
    now: datetime,
) -> dict[str, dict[str, int]]:
    """Keeps each (tenant, ids with positions, window end); per tenant, the ids another
    request had kept first, with their positions."""
    held: dict[str, dict[str, int]] = defaultdict(dict)
    for tenant_id, ids, expire_time in accepted:
        if ids:
            held[tenant_id] |= uow.message_ids.remember(tenant_id, ids, now, expire_time)
    uow.commit()
    return held


class IngestCommits:
    def __init__(
        self,
        log: IngestLog,
        layer: Layer[GatewayUnitOfWork],
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.log = log
        self.layer = layer
        self.max_bytes = max_bytes
        self._queue: list[_Commit] = []
        self._drain: asyncio.Task[None] | None = None

    async def commit(
        self,
        tenant_id: str,
        events: Sequence[Fresh],
        now: datetime,
        expire_time: datetime,
    ) -> list[Published]:
        """Makes `events` durable (the ids new within the window) and remembers their ids
        until `expire_time`; one answer per event, in order. A caller that gives up (its
        deadline) leaves the drain running for the others."""
        if not events:
            return []
        size = sum(len(e.message.payload) for e in events)
        done: asyncio.Future[list[Published]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Commit(tenant_id, events, now, expire_time, size, done))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_queue())
        return await done

    async def _drain_queue(self) -> None:
        """Writes group after group while requests queue. A group's ids are remembered (a
        store write) while the next group is looked up and written to the stream: one write
        of each kind in flight, in order. An id in both groups is written twice and the
        store's insert tells the second it is a duplicate."""
        remembering: asyncio.Task[None] | None = None
        try:
            while True:
                if not self._queue:
                    if remembering is None:
                        break
                    await remembering  # requests may queue meanwhile: look again
                    remembering = None
                    continue
                group = self._take()
                if not group:
                    continue
                try:
                    accepted, repeats = await self._write(group)
                except Exception as e:
                    _fail(group, e)
                    continue
                if remembering is not None:
                    await remembering
                remembering = asyncio.create_task(self._remember(group, accepted, repeats))
        finally:
            self._drain = None

    def _take(self) -> list[_Commit]:
        """The queued commits, oldest first, while they fit in `max_bytes` (one at least);
        those whose caller gave up are dropped."""
        group: list[_Commit] = []
        size = 0
        while self._queue:
            c = self._queue[0]
            if group and size + c.size > self.max_bytes:
                break
            self._queue.pop(0)
            if not c.done.done():
                group.append(c)
                size += c.size
        return group

    async def _write(self, group: list[_Commit]) -> tuple[_Accepted, _Repeats]:
        """Looks the group's ids up and writes the new ones, one message per tenant; what is
        left to remember, and the repeats within the group (answered after)."""
        now = max(c.now for c in group)
        wanted: dict[str, set[str]] = defaultdict(set)
        for c in group:
            wanted[c.tenant_id].update(e.message_id for e in c.events)
        known = await self.layer.read(seen_message_ids, wanted, now)
        # each tenant's new events, first copies only: (commit, index) in order
        to_write: dict[str, list[tuple[_Commit, int]]] = defaultdict(list)
        repeats: _Repeats = []
        first: dict[tuple[str, str], tuple[_Commit, int]] = {}
        for c in group:
            c.answers = [None] * len(c.events)
            seen = known.get(c.tenant_id, {})
            for i, e in enumerate(c.events):
                key = (c.tenant_id, e.message_id)
                if e.message_id in seen:
                    c.answers[i] = Published(seen[e.message_id], True)
                elif key in first:
                    repeats.append((c, i, first[key]))
                else:
                    first[key] = (c, i)
                    to_write[c.tenant_id].append((c, i))
        tenants = list(to_write)
        written = await asyncio.gather(
            *(self.log.append([c.events[i].message for c, i in to_write[t]]) for t in tenants),
            return_exceptions=True,
        )
        failed: dict[str, BaseException] = {}
        accepted: _Accepted = []
        for tenant, outcome in zip(tenants, written, strict=True):
            if isinstance(outcome, BaseException):
                failed[tenant] = outcome
                continue
            ids: dict[_Commit, dict[str, int]] = defaultdict(dict)
            for c, i in to_write[tenant]:
                c.answers[i] = Published(outcome, False)
                ids[c][c.events[i].message_id] = outcome
            accepted.extend((c.tenant_id, kept, c.expire_time) for c, kept in ids.items())
        for c in group:
            if c.tenant_id in failed:
                with contextlib.suppress(asyncio.InvalidStateError):
                    c.done.set_exception(failed[c.tenant_id])
        return accepted, repeats

    async def _remember(self, group: list[_Commit], accepted: _Accepted, repeats: _Repeats) -> None:
        """Keeps the written ids and answers the group; an id another request kept first
        is answered duplicate."""
        try:
            now = max(c.now for c in group)
            held = await self.layer.run(remember_message_ids, accepted, now)
        except Exception as error:
            _fail(group, error)
            return
        for c in group:
            taken = held.get(c.tenant_id, {})
            for i, fresh in enumerate(c.events):
                answer = c.answers[i]
                if fresh.message_id in taken and answer is not None and not answer.duplicate:
                    c.answers[i] = Published(taken[fresh.message_id], True)  # another won it
        for c, i, (fc, fi) in repeats:
            earlier = fc.answers[fi]
            c.answers[i] = Published(earlier.sequence if earlier else 0, True)
        for c in group:
            if not c.done.done():
                c.done.set_result([a if a is not None else Published(0, True) for a in c.answers])
