"""The append-only event log on SQLAlchemy, with optimistic concurrency.

The unique key on `(stream_id, version)` is the lock: a stale writer's insert
conflicts and surfaces as `ConcurrencyError`; nothing ever updates or deletes a
committed row. The insert says `ON CONFLICT DO NOTHING` and counts what it wrote,
so a conflict costs no savepoint and leaves the caller's transaction usable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, func, select
from sqlalchemy.orm import Session

from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor, PrincipalKind
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent
from services.kernel.store.schema import events


def _stored(row: Row[tuple[object, ...]]) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        position=m["position"],
        stream_id=m["stream_id"],
        version=m["version"],
        event_id=m["event_id"],
        type=m["type"],
        payload=m["payload"],
        metadata=EventMetadata(
            tenant_id=m["tenant_id"],
            actor=Actor(m["actor_id"], PrincipalKind(m["actor_kind"])),
            causation_id=m["causation_id"],
            correlation_id=m["correlation_id"],
            traceparent=m["traceparent"],
        ),
        recorded_time=m["recorded_time"],
        schema_version=m["schema_version"],
    )


class EventStore:
    """Reads and appends events within the caller's session (its transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def current_version(self, stream_id: str) -> int:
        stmt = select(func.coalesce(func.max(events.c.version), 0)).where(
            events.c.stream_id == stream_id
        )
        return int(self.session.execute(stmt).scalar_one())

    def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
        recorded_time: datetime,
    ) -> list[StoredEvent]:
        """Appends after `expected_version` (0 for a new stream) or raises ConcurrencyError."""
        if not new_events:
            return []
        rows = [
            {
                "stream_id": stream_id,
                "version": expected_version + i,
                "event_id": e.event_id,
                "type": e.type,
                "payload": e.payload,
                "tenant_id": metadata.tenant_id,
                "actor_id": metadata.actor.id,
                "actor_kind": metadata.actor.kind.value,
                "schema_version": e.schema_version,
                "causation_id": metadata.causation_id,
                "correlation_id": metadata.correlation_id,
                "traceparent": metadata.traceparent,
                "recorded_time": recorded_time,
            }
            for i, e in enumerate(new_events, start=1)
        ]
        connection = self.session.connection()
        insert_rows = insert_unless_conflict(events, connection.dialect.name)
        written = sorted(
            (_stored(r) for r in connection.execute(insert_rows, rows)), key=lambda e: e.version
        )
        if len(written) < len(rows):
            if written:  # part of the block landed: take it back, this append did not happen
                connection.execute(
                    delete(events).where(events.c.position.in_([e.position for e in written]))
                )
            raise ConcurrencyError(f"stream {stream_id} moved past version {expected_version}")
        return written

    def load(self, stream_id: str, after_version: int = 0) -> list[StoredEvent]:
        stmt = (
            select(events)
            .where(events.c.stream_id == stream_id, events.c.version > after_version)
            .order_by(events.c.version)
        )
        return [_stored(r) for r in self.session.execute(stmt)]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events in global order, for replay; callers page with the last position."""
        stmt = (
            select(events)
            .where(events.c.position > after_position)
            .order_by(events.c.position)
            .limit(limit)
        )
        return [_stored(r) for r in self.session.execute(stmt)]
