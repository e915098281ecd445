"""The unit of work on SQLAlchemy: one transaction for appends, projections, outbox, inbox.

It rolls back unless `commit()` is called (cosmicpython). Everything a command
changes (events, read models, integration events, the inbox row of the message
that caused it) commits or vanishes together. A service's adapter subclasses it
(and its own port) to add its repositories on the same session.

Appends and integration events are written behind: buffered, then sent as one
batched INSERT each by `flush()`, which runs before any other statement of the
session (as SQLAlchemy's autoflush does), at a savepoint's start and end, and at
commit. A transaction of a hundred commands costs two round trips, not two hundred.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from types import TracebackType
from typing import Generic, TypeVar, overload

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from services.kernel.clock import Clock
from services.kernel.errors import EventTooLarge
from services.kernel.store.conflicts import DriverInsert
from services.kernel.store.event_store import EventStore
from services.kernel.store.limits import DEFAULT_LIMITS, StoreLimits
from services.kernel.store.projections import Projection
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage, StoredEvent
from services.kernel.store.schema import inbox, outbox
from services.kernel.store.snapshots import Snapshots
from services.kernel.unit_of_work import AbstractUnitOfWork

# In the order `UnitOfWork.publish` builds its rows.
_OUTBOX_COLUMNS = (
    "event_id",
    "subject",
    "type",
    "payload",
    "tenant_id",
    "source",
    "subject_ref",
    "traceparent",
    "created_time",
)


_FLUSH = "layercake_flush"  # the session's `info` key of its unit of work's `flush`


@cache
def _outbox_writer(dialect: str) -> DriverInsert:
    return DriverInsert(outbox, _OUTBOX_COLUMNS, dialect)


@cache
def _inbox_claim(dialect: str) -> DriverInsert:
    columns = ("consumer", "event_id", "processed_time")
    return DriverInsert(inbox, columns, dialect, unless_conflict=True, returning=("event_id",))


@event.listens_for(Session, "do_orm_execute")
def _flush_first(state: ORMExecuteState) -> None:
    """Whatever a session of a unit of work runs sees the appends buffered before it."""
    flush = state.session.info.get(_FLUSH)
    if flush is not None:
        flush()


class UnitOfWork(AbstractUnitOfWork):
    """Owns one session; use as a context manager and call `commit()` to keep the work."""

    def __init__(
        self,
        session: Session,
        clock: Clock,
        projections: Sequence[Projection] = (),
        on_outbox: Callable[[], None] | None = None,
        limits: StoreLimits = DEFAULT_LIMITS,
    ) -> None:
        self.session = session
        self.clock = clock
        self.limits = limits
        recorded = self._project if projections else None
        self.events = EventStore(session, limits.max_event_bytes, recorded)
        self.snapshots = Snapshots(session, limits.snapshot_every)
        self._projections = projections
        self._on_outbox = on_outbox
        self._published = 0
        self._outbox: list[tuple[object, ...]] = []
        self._dialect_name: str | None = None
        session.info[_FLUSH] = self.flush
        self._holding = False
        self.commit_held = False
        self._transaction = session.begin()
        self.attach_repositories()

    def attach_repositories(self) -> None:
        """Where a service's adapter makes its repositories on `self.session`."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._discard()
        self.session.info.pop(_FLUSH, None)
        if self._transaction.is_active:
            self._transaction.rollback()
        self.session.close()

    def load(self, stream_id: str) -> list[StoredEvent]:
        self.flush()  # all of it: an adapter may buffer more than the appends
        return self.events.load(stream_id)

    def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> None:
        """Buffers the append; at the flush the projections apply in the same transaction."""
        self.events.append(stream_id, expected_version, new_events, metadata, self.now())

    def _project(self, events: list[StoredEvent]) -> None:
        if events:
            for projection in self._projections:
                projection.apply(self.session, events)

    def publish(self, message: OutboxMessage) -> None:
        """Queues an integration event; the relay publishes it after commit.
        EventTooLarge over the size limit: NATS could never take it."""
        m = message
        if len(m.payload) > self.limits.max_event_bytes:
            what = f"integration event {m.event_id} ({m.type}) to {m.subject}"
            raise EventTooLarge(what, len(m.payload), self.limits.max_event_bytes)
        time = _outbox_writer(self._dialect()).time(self.now())
        row = (m.event_id, m.subject, m.type, m.payload, m.tenant_id, m.source, m.subject_ref)
        self._outbox.append((*row, m.traceparent, time))
        self._published += 1

    def flush(self) -> None:
        """Writes the buffered appends, then the buffered integration events; a refused
        append raises here (ConcurrencyError, DuplicateEvent) and nothing of it is kept."""
        self.events.flush()
        if self._outbox:
            rows, self._outbox = self._outbox, []
            _outbox_writer(self._dialect()).count(self.session.connection(), rows)

    def _discard(self) -> None:
        self.events.discard()
        self._outbox.clear()
        self.forget_buffered()

    def forget_buffered(self) -> None:
        """Where an adapter drops what its repositories buffered or cached in this
        transaction: run when a savepoint's block fails and on rollback."""

    def claim(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """One statement for a whole batch (INSERT ... ON CONFLICT DO NOTHING RETURNING):
        a claim held by another open transaction waits for it, then counts as taken."""
        if not event_ids:
            return set()
        writer = _inbox_claim(self._dialect())
        now = writer.time(self.now())
        rows = [(consumer, e, now) for e in event_ids]
        return {r[0] for r in writer.rows(self.session.connection(), rows)}

    def _dialect(self) -> str:
        if self._dialect_name is None:
            self._dialect_name = self.session.get_bind().dialect.name
        return self._dialect_name

    @contextlib.contextmanager
    def holding_commit(self) -> Iterator[None]:
        """Inside the block `commit()` only sets `commit_held`, so the caller can add to the
        same transaction once a handler is done (the idempotency record of its answer)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Flushed on entry and on exit, so a refused append inside raises inside, and
        nothing buffered inside outlives a failure."""
        self.flush()
        with self.session.begin_nested():
            try:
                yield
                self.flush()
            except BaseException:
                self._discard()
                raise

    def commit(self) -> None:
        self.flush()
        if self._holding:
            self.commit_held = True
            return
        self._transaction.commit()
        if self._published and self._on_outbox is not None:
            self._on_outbox()
        self._published = 0

    def rollback(self) -> None:
        self._discard()
        self._transaction.rollback()


W = TypeVar("W", bound=UnitOfWork)


class UnitOfWorkFactory(Generic[W]):
    """Makes units of work on one database with the service's projections wired in;
    `kind` is the service's adapter (the kernel's own when it has no repositories)."""

    @overload
    def __init__(
        self: UnitOfWorkFactory[UnitOfWork],
        sessions: Callable[[], Session],
        clock: Clock,
        projections: Sequence[Projection] = (),
        on_outbox: Callable[[], None] | None = None,
        limits: StoreLimits = DEFAULT_LIMITS,
    ) -> None: ...

    @overload
    def __init__(
        self,
        sessions: Callable[[], Session],
        clock: Clock,
        projections: Sequence[Projection] = (),
        on_outbox: Callable[[], None] | None = None,
        limits: StoreLimits = DEFAULT_LIMITS,
        *,
        kind: type[W],
    ) -> None: ...

    def __init__(
        self,
        sessions: Callable[[], Session],
        clock: Clock,
        projections: Sequence[Projection] = (),
        on_outbox: Callable[[], None] | None = None,
        limits: StoreLimits = DEFAULT_LIMITS,
        *,
        kind: type[UnitOfWork] = UnitOfWork,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.projections = projections
        self.on_outbox = on_outbox
        self.limits = limits
        self.kind = kind

    def __call__(self) -> W:
        return self.kind(  # type: ignore[return-value]
            self.sessions(), self.clock, self.projections, self.on_outbox, self.limits
        )

    def reader(self, sessions: Callable[[], Session]) -> W:
        """A unit of work on read-only `sessions` (no projections: it never appends)."""
        return self.kind(sessions(), self.clock, limits=self.limits)  # type: ignore[return-value]
