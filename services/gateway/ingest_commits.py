"""Group commit of ingest: the accepted events of concurrent requests made durable together.

With `sync_interval: always` each JetStream message costs a disk flush, and each store
transaction a commit. So requests do not each publish: they queue their fresh events
here, and one drain at a time takes all that is queued (up to `max_bytes`), looks up
their message ids in one read, writes one INGEST message per tenant and answers every
request once it is acknowledged: one flush per group. A request arriving during a drain
waits for the next, which takes everything that arrived meanwhile: under load the
batches grow and the flushes per event fall; alone, a request is written at once.

The accepted ids are remembered behind the answers: written to the store in one
transaction for all that were accepted since the last, at most every `remember_every`
(its commit is a second flush, and the write costs more than a group's lookup, so it is
kept off the path of the answer and shared by the groups of that while), and held in
memory until then, so this replica tells a repeat apart at once. What consumers see is
exact either way (each event keeps its id, which their inboxes deduplicate on); what a
repeat is answered may not be in two cases: two replicas taking the same id in the same
moment both answer accepted, and the ids of a replica that dies before remembering them
(at most `remember_every` of them) are answered accepted again.

Idempotency holds per event: an id the store holds within its window, one written and
not yet remembered, or one an earlier request of the same drain carries, is a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.gateway.ports import GatewayUnitOfWork
from services.kernel.service_layer import Layer
from services.kernel.store.records import OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 768 * 1024  # one message stays under NATS' default 1 MB max_payload
REMEMBER_EVERY = 0.05  # seconds between writes of accepted ids (one per group before)


@dataclass(frozen=True)
class Published:
    """Where one event is: the stream position of the message holding it (events written
    together share it), and whether it was a repeat of one accepted before."""

    sequence: int
    duplicate: bool


class SeenIds(Protocol):
    """A group's lookup: per tenant, the ids among those wanted that were accepted within
    their window, with their positions."""

    async def __call__(
        self, wanted: Mapping[str, set[str]], now: datetime
    ) -> dict[str, dict[str, int]]: ...


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


_Repeats = list[tuple["_Commit", int, tuple["_Commit", int]]]  # (commit, index) repeats first


def seen_message_ids(
    uow: GatewayUnitOfWork, wanted: Mapping[str, set[str]], now: datetime
) -> dict[str, dict[str, int]]:
    """Per tenant, the ids among those wanted it accepted within their window."""
    return {t: uow.message_ids.seen(t, ids, now) for t, ids in wanted.items() if ids}


def remember_message_ids(
    uow: GatewayUnitOfWork,
    accepted: Mapping[str, tuple[Mapping[str, int], datetime]],
    now: datetime,
) -> dict[str, dict[str, int]]:
    """Keeps each tenant's ids (with positions) until its window end, one write per tenant;
    per tenant, the ids another request had kept first, with their positions."""
    held = {
        tenant_id: uow.message_ids.remember(tenant_id, ids, now, expire_time)
        for tenant_id, (ids, expire_time) in accepted.items()
        if ids
    }
    uow.commit()
    return {t: ids for t, ids in held.items() if ids}


@dataclass
class _Unremembered:
    """Ids written and answered, not in the store yet: per tenant, id -> position, and the
    latest window end among them."""

    ids: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    expire_time: dict[str, datetime] = field(default_factory=dict)
    now: datetime | None = None

    def add(
        self, tenant_id: str, ids: Mapping[str, int], expire_time: datetime, now: datetime
    ) -> None:
        self.ids[tenant_id].update(ids)
        held = self.expire_time.get(tenant_id)
        self.expire_time[tenant_id] = expire_time if held is None else max(held, expire_time)
        self.now = now if self.now is None else max(self.now, now)


class IngestCommits:
    def __init__(
        self,
        log: IngestLog,
        layer: Layer[GatewayUnitOfWork],
        max_bytes: int = DEFAULT_MAX_BYTES,
        remember_every: float = REMEMBER_EVERY,
        seen: SeenIds | None = None,
    ) -> None:
        """`seen` looks a group's ids up; by default through `layer`'s unit of work (any
        store), the SQL gateway's straight through the driver (`seen_by_driver`)."""
        self.log = log
        self.layer = layer
        self.seen: SeenIds = seen or self._seen_through_layer
        self.max_bytes = max_bytes
        self.remember_every = remember_every
        self._flush = asyncio.Event()  # set while someone waits for every id to be kept
        self._queue: list[_Commit] = []
        self._drain: asyncio.Task[None] | None = None
        self._waiting = _Unremembered()  # to write at the next remember
        self._writing = _Unremembered()  # being written now
        self._remember: asyncio.Task[None] | None = None

    async def _seen_through_layer(
        self, wanted: Mapping[str, set[str]], now: datetime
    ) -> dict[str, dict[str, int]]:
        return await self.layer.read(seen_message_ids, wanted, now)

    async def commit(
        self,
        tenant_id: str,
        events: Sequence[Fresh],
        now: datetime,
        expire_time: datetime,
    ) -> list[Published]:
        """Makes `events` durable (the ids new within the window) and remembers their ids
        until `expire_time` (at least); one answer per event, in order. A caller that gives
        up (its deadline) leaves the drain running for the others."""
        if not events:
            return []
        size = sum(len(e.message.payload) for e in events)
        done: asyncio.Future[list[Published]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Commit(tenant_id, events, now, expire_time, size, done))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_queue())
        return await done

    async def remembered(self) -> None:
        """Returns once every id answered so far is in the store (at stop, and in tests),
        writing them without waiting out `remember_every`."""
        self._flush.set()
        try:
            while self._remember is not None or self._drain is not None:
                await asyncio.gather(
                    *(t for t in (self._remember, self._drain) if t is not None),
                    return_exceptions=True,
                )
        finally:
            self._flush.clear()

    async def _drain_queue(self) -> None:
        """Writes group after group while requests queue."""
        try:
            while self._queue:
                group = self._take()
                if group:
                    try:
                        await self._write(group)
                    except Exception as e:
                        _fail(group, e)
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

    def _unremembered(self, tenant_id: str, message_id: str) -> int | None:
        for pending in (self._waiting, self._writing):
            found = pending.ids.get(tenant_id, {}).get(message_id)
            if found is not None:
                return found
        return None

    async def _write(self, group: list[_Commit]) -> None:
        """Looks the group's ids up, writes the new ones (one message per tenant) and
        answers; the ids accepted go to be remembered."""
        now = max(c.now for c in group)
        wanted: dict[str, set[str]] = defaultdict(set)
        # ids not remembered yet are looked at before the store is read: one whose write
        # commits meanwhile is still here, or in what the read sees
        known: dict[str, dict[str, int]] = defaultdict(dict)
        for c in group:
            for e in c.events:
                held = self._unremembered(c.tenant_id, e.message_id)
                if held is None:
                    wanted[c.tenant_id].add(e.message_id)
                else:
                    known[c.tenant_id][e.message_id] = held
        for tenant_id, found in (await self.seen(wanted, now)).items():
            known[tenant_id].update(found)
        to_write, repeats = self._sort(group, known)
        tenants = list(to_write)
        written = await self._append(
            [[c.events[i].message for c, i in to_write[t]] for t in tenants]
        )
        failed: dict[str, BaseException] = {}
        for tenant, outcome in zip(tenants, written, strict=True):
            if isinstance(outcome, BaseException):
                failed[tenant] = outcome
                continue
            ids: dict[str, int] = {}
            for c, i in to_write[tenant]:
                c.answers[i] = Published(outcome, False)
                ids[c.events[i].message_id] = outcome
            expire_time = max(c.expire_time for c, _ in to_write[tenant])
            self._waiting.add(tenant, ids, expire_time, now)
        if self._waiting.ids and self._remember is None:
            self._remember = asyncio.create_task(self._remember_written())
        for c, i, (fc, fi) in repeats:
            earlier = fc.answers[fi]
            c.answers[i] = Published(earlier.sequence if earlier else 0, True)
        for c in group:
            if c.done.done():
                continue
            if c.tenant_id in failed:
                c.done.set_exception(failed[c.tenant_id])
            else:
                c.done.set_result([a if a is not None else Published(0, True) for a in c.answers])

    async def _append(self, batches: list[list[OutboxMessage]]) -> list[int | BaseException]:
        """Each tenant's batch written, concurrently; per batch its position or its error.
        One tenant's (the usual group) is awaited here: no task for it."""
        if len(batches) == 1:
            try:
                return [await self.log.append(batches[0])]
            except Exception as e:
                return [e]
        return await asyncio.gather(*map(self.log.append, batches), return_exceptions=True)

    @staticmethod
    def _sort(
        group: list[_Commit], known: Mapping[str, Mapping[str, int]]
    ) -> tuple[dict[str, list[tuple[_Commit, int]]], _Repeats]:
        """Each tenant's new events, first copies only, as (commit, index) in order; the
        repeats within the group; ids accepted before are answered duplicate here."""
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
        return to_write, repeats

    async def _remember_written(self) -> None:
        """Keeps what was written in the store, one transaction at a time for everything
        written since the last, `remember_every` after it. A write that fails is logged:
        those ids are then told apart by consumers' inboxes only (a repeat is written again
        and answered accepted)."""
        try:
            while self._waiting.ids:
                with contextlib.suppress(TimeoutError):  # the groups of that while join in
                    async with asyncio.timeout(self.remember_every):
                        await self._flush.wait()
                self._writing, self._waiting = self._waiting, _Unremembered()
                pending = self._writing
                accepted = {t: (ids, pending.expire_time[t]) for t, ids in pending.ids.items()}
                try:
                    assert pending.now is not None
                    held = await self.layer.run(remember_message_ids, accepted, pending.now)
                except Exception as e:
                    log.warning(
                        "accepted message ids not remembered",
                        extra={"ids": sum(len(i) for i in pending.ids.values()), "error": repr(e)},
                    )
                else:
                    if held:
                        log.info(
                            "message ids another gateway accepted at the same moment",
                            extra={"ids": sum(len(i) for i in held.values())},
                        )
                finally:
                    self._writing = _Unremembered()
        finally:
            self._remember = None
