"""The unit of work in memory: the fake that handlers' unit tests run on.

A unit of work works on its own copy of the committed state and swaps it in on
`commit()`, so it rolls back, isolates and keeps savepoints as a transaction does,
and the kernel's contract suite holds it to the same promises as SQLAlchemy.
A service's fake extends `MemoryState` with its tables and the unit of work with
its repositories. Single-threaded: for tests, never for production.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Concatenate, Generic, ParamSpec, TypeVar

from services.kernel.clock import Clock
from services.kernel.errors import ConcurrencyError, DuplicateEvent
from services.kernel.profile_copies import ProfileCopies
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage, StoredEvent
from services.kernel.unit_of_work import AbstractUnitOfWork


@dataclass
class MemoryState:
    """What the in-memory database holds: the kernel's tables; services add their own."""

    streams: dict[str, list[StoredEvent]] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    position: int = 0


S = TypeVar("S", bound=MemoryState)


class InMemoryDatabase(Generic[S]):
    """The committed state that units of work start from and commit into."""

    def __init__(self, state: S, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self.commits = 0


class InMemoryUnitOfWork(AbstractUnitOfWork, Generic[S]):
    def __init__(self, db: InMemoryDatabase[S]) -> None:
        self.db = db
        self.clock = db.clock
        self.state: S = copy.deepcopy(db.state)
        self._pending: list[tuple[str, int, list[NewEvent], EventMetadata, datetime]] = []
        self.attach_repositories()

    def attach_repositories(self) -> None:
        """Where a service's fake makes its repositories; they must read `self.state` anew
        each time, since a rollback replaces it."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def load(self, stream_id: str) -> list[StoredEvent]:
        self.flush()
        return list(self.state.streams.get(stream_id, []))

    def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> None:
        """Buffered, as the SQL adapter's: refusals surface at the flush."""
        if len({e.event_id for e in new_events}) != len(new_events):
            raise DuplicateEvent(f"an event id appears twice in one append to {stream_id!r}")
        if new_events:
            self._pending.append(
                (stream_id, expected_version, list(new_events), metadata, self.now())
            )

    def flush(self) -> None:
        """Applies the buffered appends in order; the refused ones apply nothing, and the
        first refusal is raised once the others are kept."""
        pending, self._pending = self._pending, []
        errors = []
        for block in pending:
            try:
                self._apply(*block)
            except (ConcurrencyError, DuplicateEvent) as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def _apply(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
        recorded_time: datetime,
    ) -> None:
        stream = self.state.streams.setdefault(stream_id, [])
        known = {e.event_id: e for held in self.state.streams.values() for e in held}
        found = [known.get(e.event_id) for e in new_events]
        start = expected_version + 1
        repeat = [(stream_id, v, e.payload) for v, e in enumerate(new_events, start)]
        held = [(f.stream_id, f.version, f.payload) for f in found if f is not None]
        if found and held == repeat:
            return  # an append that already happened: a retry with the same ids
        if len(stream) != expected_version:
            raise ConcurrencyError(f"stream {stream_id} moved past version {expected_version}")
        if twice := next((f for f in found if f is not None), None):
            raise DuplicateEvent(f"event {twice.event_id} is already recorded elsewhere")
        for version, e in enumerate(new_events, start=expected_version + 1):
            self.state.position += 1
            stream.append(
                StoredEvent(
                    position=self.state.position,
                    stream_id=stream_id,
                    version=version,
                    event_id=e.event_id,
                    type=e.type,
                    payload=e.payload,
                    metadata=metadata,
                    recorded_time=recorded_time,
                    schema_version=e.schema_version,
                )
            )

    def publish(self, message: OutboxMessage) -> None:
        self.state.outbox.append(dataclasses.replace(message, created_time=self.now()))

    def claim(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        fresh = {e for e in event_ids if (consumer, e) not in self.state.inbox}
        self.state.inbox.update((consumer, e) for e in fresh)
        return fresh

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self.flush()
        before = copy.deepcopy(self.state)
        try:
            yield
            self.flush()
        except BaseException:
            self._pending.clear()
            self.state = before
            raise

    def commit(self) -> None:
        self.flush()
        self.db.state = self.state
        self.db.commits += 1
        self.state = copy.deepcopy(self.state)

    def rollback(self) -> None:
        self._pending.clear()
        self.state = copy.deepcopy(self.db.state)


T = TypeVar("T")
P = ParamSpec("P")
W = TypeVar("W", bound=AbstractUnitOfWork)


class InMemoryLayer(Generic[W]):
    """The service layer's `Layer` on the fake: each call gets a new unit of work from `new`."""

    def __init__(self, new: Callable[[], W]) -> None:
        self.new = new

    async def run(
        self, handler: Callable[Concatenate[W, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self.new() as uow:
            return handler(uow, *args, **kwargs)

    async def read(
        self, query: Callable[Concatenate[W, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self.new() as uow:
            return query(uow, *args, **kwargs)


class MemoryProfileCopies(ProfileCopies[T]):
    """Profile copies in memory; `table` is read anew on every call (a rollback replaces it)."""

    def __init__(self, table: Callable[[], dict[tuple[str, str], T]], name: str) -> None:
        self.table = table
        self.name = name

    def get(self, tenant_id: str, profile_id: str) -> T | None:
        return self.table().get((tenant_id, profile_id))

    def merge(self, tenant_id: str, profile_id: str, merge: Callable[[T | None], T | None]) -> bool:
        key = {"tenant_id": tenant_id, "profile_id": profile_id}
        if missing := [k for k, v in key.items() if not v]:
            raise ValueError(f"{self.name} change without {', '.join(missing)}")
        copy = merge(self.get(tenant_id, profile_id))
        if copy is None:
            return False
        self.table()[(tenant_id, profile_id)] = copy
        return True

    def pop(self, tenant_id: str, profile_id: str) -> T | None:
        return self.table().pop((tenant_id, profile_id), None)
