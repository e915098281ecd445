"""What every event-sourced aggregate shares: state only changes by applying events.

An aggregate checks its rules, then `_record`s an event (applied at once and kept
as pending); a repository appends the pending events after `version` and calls
`saved()`. Loading is `replay` of the stream. Nothing here touches storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Self, TypeVar

E = TypeVar("E")


@dataclass
class Aggregate(Generic[E]):
    version: int = 0
    pending: list[E] = field(default_factory=list)

    @classmethod
    def replay(cls, events: Iterable[E], version: int, start: Self | None = None) -> Self:
        """The aggregate as of `version`, rebuilt from its events in order (the events
        after a snapshot's aggregate, when `start` is one)."""
        aggregate = cls() if start is None else start
        for event in events:
            aggregate.apply(event)
        aggregate.version = version
        return aggregate

    def apply(self, event: E) -> None:
        raise NotImplementedError

    def _record(self, event: E) -> None:
        self.apply(event)
        self.pending.append(event)

    def saved(self) -> None:
        """The pending events were appended: they are now part of `version`."""
        self.version += len(self.pending)
        self.pending.clear()
