"""The append-only event log on SQLAlchemy, with optimistic concurrency.

The unique key on `(stream_id, version)` is the lock: a stale writer's insert
conflicts and surfaces as `ConcurrencyError` (a reused event id as `DuplicateEvent`);
nothing ever updates or deletes a committed row. The insert says `ON CONFLICT DO
NOTHING` and counts what it wrote, so a conflict costs no savepoint and leaves the
caller's transaction usable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Row, delete, func, select
from sqlalchemy.orm import Session

from services.kernel.errors import ConcurrencyError, DuplicateEvent, EventTooLarge
from services.kernel.principals import Actor, PrincipalKind
from services.kernel.store.conflicts import DriverInsert
from services.kernel.store.limits import DEFAULT_MAX_EVENT_BYTES
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


# Every column but `position`, in the order `EventStore.append` builds its rows.
_COLUMNS = (
    "stream_id",
    "version",
    "event_id",
    "type",
    "payload",
    "tenant_id",
    "actor_id",
    "actor_kind",
    "schema_version",
    "causation_id",
    "correlation_id",
    "traceparent",
    "recorded_time",
)


@cache
def _writer(dialect: str) -> DriverInsert:
    return DriverInsert(
        events, _COLUMNS, dialect, unless_conflict=True, returning=("version", "position")
    )


class EventStore:
    """Reads and appends events within the caller's session (its transaction)."""

    def __init__(self, session: Session, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.session = session
        self.max_event_bytes = max_event_bytes

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
        """Appends after `expected_version` (0 for a new stream); returns what it recorded.

        ConcurrencyError when the stream moved on; DuplicateEvent when an event id is
        already recorded elsewhere; EventTooLarge over the size limit. Repeating an
        append that already happened (same stream, versions, ids and payloads) records
        nothing and returns [], so a retry with deterministic ids is safe.
        """
        if not new_events:
            return []
        self._check(stream_id, new_events)
        connection = self.session.connection()
        writer = _writer(connection.dialect.name)
        m = metadata
        who = (m.tenant_id, m.actor.id, m.actor.kind.value)
        why = (m.causation_id, m.correlation_id, m.traceparent, writer.time(recorded_time))
        rows = [
            (stream_id, v, e.event_id, e.type, e.payload, *who, e.schema_version, *why)
            for v, e in enumerate(new_events, start=expected_version + 1)
        ]
        positions = dict(writer.rows(connection, rows))
        if len(positions) < len(rows):
            if positions:  # part of the block landed: take it back, this append did not happen
                connection.execute(
                    delete(events).where(events.c.position.in_(list(positions.values())))
                )
            return self._refused(stream_id, expected_version, new_events)
        return [
            StoredEvent(
                positions[version],
                stream_id,
                version,
                e.event_id,
                e.type,
                e.payload,
                metadata,
                recorded_time,
                e.schema_version,
            )
            for version, e in enumerate(new_events, start=expected_version + 1)
        ]

    def _check(self, stream_id: str, new_events: Sequence[NewEvent]) -> None:
        ids = [e.event_id for e in new_events]
        if len(set(ids)) < len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise DuplicateEvent(f"event {twice} appears twice in one append to {stream_id!r}")
        for e in new_events:
            if len(e.payload) > self.max_event_bytes:
                what = f"event {e.event_id} ({e.type}) for stream {stream_id!r}"
                raise EventTooLarge(what, len(e.payload), self.max_event_bytes)

    def _refused(
        self, stream_id: str, expected_version: int, new_events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """Why an append wrote less than asked: [] for an exact repeat, else the error."""
        found = {
            r.event_id: r
            for r in self.session.execute(
                select(
                    events.c.event_id,
                    events.c.stream_id,
                    events.c.version,
                    events.c.type,
                    events.c.payload,
                ).where(events.c.event_id.in_([e.event_id for e in new_events]))
            )
        }
        if not found:
            raise ConcurrencyError(f"stream {stream_id} moved past version {expected_version}")
        repeat = len(found) == len(new_events) and all(
            tuple(found[e.event_id])[1:] == (stream_id, version, e.type, e.payload)
            for version, e in enumerate(new_events, start=expected_version + 1)
        )
        if repeat:
            return []
        e = next(e for e in new_events if e.event_id in found)
        row = found[e.event_id]
        raise DuplicateEvent(
            f"event {e.event_id} is already recorded, as version {row.version}"
            f" of stream {row.stream_id!r}"
        )

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
