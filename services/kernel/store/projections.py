"""Read models kept in step with the log, and rebuilt from it on demand."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from services.kernel.store.event_store import EventStore
from services.kernel.store.records import StoredEvent

log = logging.getLogger(__name__)


class Projection(Protocol):
    """Applies events to read-model tables inside the append's transaction."""

    name: str

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        """The events one flush recorded (or one page of a replay), in log order: a
        projection may fold them and write each row once."""
        ...

    def clear(self, session: Session) -> None:
        """Deletes every row of the read model, before a replay."""
        ...


def replay(session: Session, projections: Sequence[Projection], page: int = 1000) -> int:
    """Rebuilds `projections` from the whole event log in one transaction; returns events read."""
    for projection in projections:
        projection.clear(session)
    store = EventStore(session)
    position, count = 0, 0
    while batch := store.read_all(after_position=position, limit=page):
        for projection in projections:
            projection.apply(session, batch)
        position, count = batch[-1].position, count + len(batch)
        log.info("replay progress", extra={"events": count, "position": position})
    return count
