"""The unit-of-work port every service's handlers take (cosmicpython's AbstractUnitOfWork).

One transaction's events, integration events (outbox) and consumer claims (inbox),
kept only when `commit()` is called. A service extends it with its repositories;
the SQLAlchemy adapter (`services.kernel.store.unit_of_work`) and the in-memory
fake (`services.kernel.store.memory`) implement it, and one contract suite holds both
to it, so handlers are unit-tested without a database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Self

from services.kernel.clock import Clock
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage, StoredEvent


class AbstractUnitOfWork(ABC):
    """Use as a context manager; nothing is kept unless `commit()` is called."""

    clock: Clock

    def __enter__(self) -> Self:
        return self

    @abstractmethod
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Rolls back what was not committed and releases the transaction."""

    def now(self) -> datetime:
        return self.clock.now()

    @abstractmethod
    def load(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in version order; [] for a stream that does not exist."""

    @abstractmethod
    def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> None:
        """Appends after `expected_version`, written behind: a stream that moved past it
        raises ConcurrencyError (an event id recorded elsewhere DuplicateEvent) at the next
        flush, and nothing of that append is kept; an exact repeat of an append that
        happened records nothing and raises nothing."""

    @abstractmethod
    def flush(self) -> None:
        """Writes what is buffered now, raising the refusals of its appends. It also happens
        at commit, at a savepoint's start and end, and before any read of the unit of work,
        which therefore always sees its own appends."""

    @abstractmethod
    def publish(self, message: OutboxMessage) -> None:
        """Queues an integration event; it is published after commit, never before."""

    @abstractmethod
    def claim(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Records that `consumer` handles `event_ids`; returns those it had not handled
        before (the inbox: a redelivered message is left out, so its effects apply once)."""

    @abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """A block whose work is undone, alone, when it raises (the exception goes on)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...
