"""The append-only event log on SQLAlchemy, with optimistic concurrency and write-behind.

The unique key on `(stream_id, version)` is the lock: a stale writer's insert
conflicts and surfaces as `ConcurrencyError` (a reused event id as `DuplicateEvent`);
nothing ever updates or deletes a committed row. Appends are buffered and written by
`flush()` as one batched `INSERT ... ON CONFLICT DO NOTHING` (a round trip a flush,
not one an append), which tells what it wrote, so a conflict costs no savepoint and
leaves the caller's transaction usable. The unit of work flushes before
any other statement of its session, at a savepoint's end and at commit: what is read
in a transaction always includes what it appended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from services.kernel.errors import ConcurrencyError, DuplicateEvent, EventTooLarge, LayercakeError
from services.kernel.principals import Actor, PrincipalKind
from services.kernel.store.conflicts import DriverInsert
from services.kernel.store.limits import DEFAULT_MAX_EVENT_BYTES
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent
from services.kernel.store.schema import events


def _stored(row: Sequence[Any]) -> StoredEvent:
    """A row of `select(events)`, by position (cheaper than by name: it runs per event read)."""
    (position, stream_id, version, event_id, type_, payload, tenant_id, actor_id, actor_kind,
     schema_version, causation_id, correlation_id, traceparent, recorded_time) = row  # fmt: skip
    return StoredEvent(
        position,
        stream_id,
        version,
        event_id,
        type_,
        payload,
        EventMetadata(
            tenant_id, _actor(actor_id, actor_kind), causation_id, correlation_id, traceparent
        ),
        recorded_time,
        schema_version,
    )


@lru_cache(maxsize=1024)
def _actor(actor_id: str, kind: str) -> Actor:
    """Few actors write most events (a service's own): each is made once."""
    return Actor(actor_id, PrincipalKind(kind))


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
    returning = ("stream_id", "version", "event_id", "position")
    return DriverInsert(events, _COLUMNS, dialect, unless_conflict=True, returning=returning)


@dataclass(frozen=True)
class _Append:
    """One buffered append: what was asked, and its rows in `_COLUMNS` order."""

    stream_id: str
    expected_version: int
    new_events: Sequence[NewEvent]
    metadata: EventMetadata
    recorded_time: datetime
    rows: list[tuple[Any, ...]]

    def take(self, positions: dict[tuple[str, int, str], int]) -> list[int] | None:
        """Its rows' positions, taken out of `positions`; None unless every one of them was
        written (by this append, not another with the same key)."""
        keys = [row[:3] for row in self.rows]  # stream, version, event id
        if any(k not in positions for k in keys):
            return None
        return [positions.pop(k) for k in keys]

    def stored(self, positions: list[int]) -> list[StoredEvent]:
        """Its events as recorded at `positions`."""
        start = self.expected_version + 1
        return [
            StoredEvent(
                position,
                self.stream_id,
                version,
                e.event_id,
                e.type,
                e.payload,
                self.metadata,
                self.recorded_time,
                e.schema_version,
                e.domain_event,
            )
            for version, (position, e) in enumerate(
                zip(positions, self.new_events, strict=True), start
            )
        ]


class EventStore:
    """Reads and appends events within the caller's session (its transaction); appends wait
    in a buffer until `flush()`, and the events each flush recorded are handed to `on_recorded`."""

    def __init__(
        self,
        session: Session,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        on_recorded: Callable[[list[StoredEvent]], None] | None = None,
    ) -> None:
        self.session = session
        self.max_event_bytes = max_event_bytes
        self.on_recorded = on_recorded
        self._pending: list[_Append] = []
        self._insert: DriverInsert | None = None

    def _writer(self) -> DriverInsert:
        if self._insert is None:
            self._insert = _writer(self.session.get_bind().dialect.name)
        return self._insert

    def current_version(self, stream_id: str) -> int:
        self.flush()
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
    ) -> None:
        """Appends after `expected_version` (0 for a new stream), at the next `flush()`.

        EventTooLarge over the size limit, and DuplicateEvent for an id twice in the
        block, at once; the flush raises ConcurrencyError when the stream moved on and
        DuplicateEvent when an event id is already recorded elsewhere. Repeating an
        append that already happened (same stream, versions, ids and payloads) records
        nothing and raises nothing, so a retry with deterministic ids is safe.
        """
        if not new_events:
            return
        self._check(stream_id, new_events)
        time = self._writer().time(recorded_time)
        m = metadata
        who = (m.tenant_id, m.actor.id, m.actor.kind.value)
        why = (m.causation_id, m.correlation_id, m.traceparent, time)
        rows = [
            (stream_id, v, e.event_id, e.type, e.payload, *who, e.schema_version, *why)
            for v, e in enumerate(new_events, start=expected_version + 1)
        ]
        block = list(new_events)
        self._pending.append(
            _Append(stream_id, expected_version, block, metadata, recorded_time, rows)
        )

    def discard(self) -> None:
        """Forgets the buffered appends (the transaction or savepoint they were in is gone)."""
        self._pending.clear()

    def flush(self) -> None:
        """Writes the buffered appends in one statement. Each append lands whole or not at
        all: those that conflict are taken back, the others are kept and handed to
        `on_recorded`, then the first refusal is raised (the transaction stays usable)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        connection = self.session.connection()
        rows = [row for block in pending for row in block.rows]
        positions = self._write(connection, rows)
        if positions is None:
            return  # every row written, and no one needs their positions
        outcomes = [(block, block.take(positions)) for block in pending]
        if positions:  # part of a refused block landed: take it back, it did not happen
            gone = list(positions.values())
            connection.execute(delete(events).where(events.c.position.in_(gone)))
        if self.on_recorded is not None:
            self.on_recorded(
                [
                    e
                    for block, landed in outcomes
                    if landed is not None
                    for e in block.stored(landed)
                ]
            )
        for block, landed in outcomes:
            if landed is None and (error := self._refused(block)) is not None:
                raise error

    def _write(
        self, connection: Connection, rows: list[tuple[Any, ...]]
    ) -> dict[tuple[str, int, str], int] | None:
        """Inserts `rows`; the position of each row written, by (stream, version, event id),
        or None when every row was written and nothing needs the positions.

        PostgreSQL: RETURNING, in the same single statement. SQLite: `executemany`, which
        is several times faster than a multi-row VALUES with RETURNING. The writer holds
        SQLite's lock (BEGIN IMMEDIATE) and `position` is the rowid, so the rows past the
        highest position before the insert are exactly the ones it wrote, in order: when
        every row was written they are the next positions, else they are read back.
        """
        writer = self._writer()
        if not writer.sqlite:
            return {(s, v, e): p for s, v, e, p in writer.rows(connection, rows)}
        top = select(func.coalesce(func.max(events.c.position), 0))
        before = connection.execute(top).scalar_one()
        if writer.count(connection, rows) == len(rows):  # each row took the next rowid
            if self.on_recorded is None:
                return None
            return {(r[0], r[1], r[2]): before + i for i, r in enumerate(rows, start=1)}
        written = select(events.c.stream_id, events.c.version, events.c.event_id, events.c.position)
        found = connection.execute(written.where(events.c.position > before))
        return {(s, v, e): p for s, v, e, p in found}

    def _check(self, stream_id: str, new_events: Sequence[NewEvent]) -> None:
        ids = [e.event_id for e in new_events]
        if len(set(ids)) < len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise DuplicateEvent(f"event {twice} appears twice in one append to {stream_id!r}")
        for e in new_events:
            if len(e.payload) > self.max_event_bytes:
                what = f"event {e.event_id} ({e.type}) for stream {stream_id!r}"
                raise EventTooLarge(what, len(e.payload), self.max_event_bytes)

    def _refused(self, block: _Append) -> LayercakeError | None:
        """Why an append wrote less than asked: None for an exact repeat, else the error."""
        stream_id, expected_version, new_events = (
            block.stream_id,
            block.expected_version,
            block.new_events,
        )
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
            return ConcurrencyError(f"stream {stream_id} moved past version {expected_version}")
        repeat = len(found) == len(new_events) and all(
            tuple(found[e.event_id])[1:] == (stream_id, version, e.type, e.payload)
            for version, e in enumerate(new_events, start=expected_version + 1)
        )
        if repeat:
            return None
        e = next(e for e in new_events if e.event_id in found)
        row = found[e.event_id]
        return DuplicateEvent(
            f"event {e.event_id} is already recorded, as version {row.version}"
            f" of stream {row.stream_id!r}"
        )

    def load(self, stream_id: str, after_version: int = 0) -> list[StoredEvent]:
        self.flush()
        stmt = (
            select(events)
            .where(events.c.stream_id == stream_id, events.c.version > after_version)
            .order_by(events.c.version)
        )
        return [_stored(r) for r in self.session.execute(stmt)]

    def load_tails(self, after: Mapping[str, int]) -> dict[str, list[StoredEvent]]:
        """Each stream's events after its version in `after` (a snapshot's), in version order,
        with one query (an index range per stream); streams without any are left out."""
        self.flush()
        if not after:
            return {}
        tails: dict[str, list[StoredEvent]] = {}
        for row in self.session.execute(tails_query(after)):
            event = _stored(row)
            tails.setdefault(event.stream_id, []).append(event)
        return tails

    def load_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Whole streams, each in version order, with one query (`stream_id IN (...)`: a
        range of the (stream, version) index per stream); streams without events are left
        out. A batch's streams at once, where `load_tails` would build a range per stream."""
        self.flush()
        found: dict[str, list[StoredEvent]] = {}
        if not stream_ids:
            return found
        for row in self.session.execute(_STREAMS, {"streams": list(stream_ids)}):
            event = _stored(row)
            found.setdefault(event.stream_id, []).append(event)
        return found

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events in global order, for replay; callers page with the last position."""
        self.flush()
        stmt = (
            select(events)
            .where(events.c.position > after_position)
            .order_by(events.c.position)
            .limit(limit)
        )
        return [_stored(r) for r in self.session.execute(stmt)]


_STREAMS = (
    select(events)
    .where(events.c.stream_id.in_(bindparam("streams", expanding=True)))
    .order_by(events.c.stream_id, events.c.version)
)


def tails_query(after: Mapping[str, int]) -> Select[Any]:
    """`load_tails`' statement: a range of the (stream, version) index per stream."""
    c = events.c
    ranges = [(c.stream_id == s) & (c.version > v) for s, v in sorted(after.items())]
    return select(events).where(or_(*ranges)).order_by(c.stream_id, c.version)
