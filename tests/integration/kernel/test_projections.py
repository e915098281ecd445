"""Unit of work: projections, outbox and inbox commit or vanish with the append; replay."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.kernel.clock import FixedClock
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor
from services.kernel.store.database import Database
from services.kernel.store.projections import replay
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent
from services.kernel.store.schema import events, inbox, outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import EVENT_TYPE, make_message

META = EventMetadata(tenant_id="acme", actor=Actor.system("test"))

read_model = MetaData()
stream_stats = Table(
    "kernel_test_stream_stats",
    read_model,
    Column("stream_id", String(200), primary_key=True),
    Column("events", Integer, nullable=False),
    Column("last_version", Integer, nullable=False),
    Column("last_payload", String(200), nullable=False),
)


class StreamStats:
    """A tiny read model: per stream, how many events and the latest one."""

    name = "stream_stats"

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        for event in events:
            self._apply(session, event)

    def _apply(self, session: Session, event: StoredEvent) -> None:
        if event.payload == b"explode":
            raise RuntimeError("projection cannot apply this event")
        values = {"last_version": event.version, "last_payload": event.payload.decode()}
        known = session.execute(
            select(stream_stats.c.stream_id).where(stream_stats.c.stream_id == event.stream_id)
        ).first()
        if known:
            session.execute(
                update(stream_stats)
                .where(stream_stats.c.stream_id == event.stream_id)
                .values(events=stream_stats.c.events + 1, **values)
            )
        else:
            session.execute(
                insert(stream_stats).values(stream_id=event.stream_id, events=1, **values)
            )

    def clear(self, session: Session) -> None:
        session.execute(delete(stream_stats))


def stats(db: Database) -> dict[str, tuple[int, int, str]]:
    with db.transaction() as s:
        return {
            r.stream_id: (r.events, r.last_version, r.last_payload)
            for r in s.execute(select(stream_stats))
        }


def count(db: Database, table: Table) -> int:
    with db.transaction() as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def projected(database: Database, clock: FixedClock) -> Iterator[UnitOfWorkFactory]:
    read_model.create_all(database.engine)
    yield UnitOfWorkFactory(database.sessions, clock, [StreamStats()])


def new(*payloads: str) -> list[NewEvent]:
    return [NewEvent(EVENT_TYPE, p.encode()) for p in payloads]


def test_projection_is_updated_in_the_append_transaction(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    a, b = random_id("a-"), random_id("b-")
    with projected() as uow:
        uow.append(a, 0, new("a1", "a2"), META)
        uow.append(b, 0, new("b1"), META)
        # Visible inside the transaction, before commit.
        inside = uow.session.execute(
            select(stream_stats.c.events).where(stream_stats.c.stream_id == a)
        ).scalar_one()
        assert inside == 2
        uow.commit()
    with projected() as uow:
        uow.append(a, 2, new("a3"), META)
        uow.commit()
    assert stats(database) == {a: (3, 3, "a3"), b: (1, 1, "b1")}


def test_uncommitted_work_rolls_back_with_its_projection(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    with projected() as uow:
        uow.append(stream, 0, new("kept"), META)
        uow.commit()
    with projected() as uow:
        uow.append(stream, 1, new("forgotten"), META)
        uow.publish(make_message("layercake.acme.identity.x", "acme"))
        assert uow.claim("consumer", ["ev-1"]) == {"ev-1"}
        # no commit: leaving the block rolls everything back
    with projected() as uow:
        uow.append(stream, 1, new("discarded"), META)
        uow.rollback()
    assert stats(database) == {stream: (1, 1, "kept")}
    assert count(database, events) == 1
    assert count(database, outbox) == 0
    assert count(database, inbox) == 0


def test_an_exception_discards_events_projection_and_outbox(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    with pytest.raises(RuntimeError, match="projection cannot apply"), projected() as uow:
        uow.publish(make_message("layercake.acme.identity.x", "acme"))
        uow.append(stream, 0, new("fine", "explode"), META)
        uow.commit()
    assert stats(database) == {}
    assert count(database, events) == 0
    assert count(database, outbox) == 0


def test_a_conflict_leaves_the_projection_untouched(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    with projected() as uow:
        uow.append(stream, 0, new("first"), META)
        uow.commit()
    with projected() as uow:
        uow.append(stream, 0, new("stale"), META)
        with pytest.raises(ConcurrencyError):
            uow.flush()
        uow.append(stream, 1, new("second"), META)  # the transaction is still usable
        uow.commit()
    assert stats(database) == {stream: (2, 2, "second")}


def test_replay_rebuilds_the_read_model_from_events(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    streams = [random_id(f"s{i}-") for i in range(3)]
    total = 0
    for n, stream in enumerate(streams, start=1):
        with projected() as uow:
            uow.append(stream, 0, new(*(f"{stream}-{v}" for v in range(1, n + 2))), META)
            uow.commit()
        total += n + 1
    before = stats(database)
    assert len(before) == 3

    # The read model drifts: a row lost, a row wrong, a row that should not exist.
    with database.transaction() as s:
        s.execute(delete(stream_stats).where(stream_stats.c.stream_id == streams[0]))
        s.execute(update(stream_stats).values(events=99, last_payload="corrupt"))
        s.execute(
            insert(stream_stats).values(
                stream_id="ghost", events=1, last_version=1, last_payload="x"
            )
        )
    assert stats(database) != before

    with database.transaction() as s:
        assert replay(s, [StreamStats()], page=2) == total
    assert stats(database) == before


def test_replay_of_an_empty_log_clears_the_read_model(
    projected: UnitOfWorkFactory, database: Database
) -> None:
    with database.transaction() as s:
        s.execute(
            insert(stream_stats).values(
                stream_id="ghost", events=1, last_version=1, last_payload="x"
            )
        )
    with database.transaction() as s:
        assert replay(s, [StreamStats()]) == 0
    assert stats(database) == {}


def test_inbox_claims_once_per_consumer(uow: UnitOfWorkFactory, database: Database) -> None:
    with uow() as u:
        assert u.claim("identity-ingest", ["ev-1"])
        assert not u.claim("identity-ingest", ["ev-1"])  # same transaction
        assert u.claim("decision-features", ["ev-1"])  # another consumer is independent
        u.commit()
    with uow() as u:
        assert not u.claim("identity-ingest", ["ev-1"])  # after commit
        assert u.claim("identity-ingest", ["ev-2"])
        u.commit()
    assert count(database, inbox) == 3


def test_outbox_notifies_after_commit_only_when_something_was_published(
    database: Database, clock: FixedClock
) -> None:
    calls: list[int] = []
    factory = UnitOfWorkFactory(database.sessions, clock, on_outbox=lambda: calls.append(1))
    with factory() as u:
        u.append(random_id("s-"), 0, new("no integration event"), META)
        u.commit()
    assert calls == []
    with factory() as u:
        u.publish(make_message("layercake.acme.identity.x", "acme"))
        assert calls == []  # not before commit
        u.commit()
    assert calls == [1]
    with factory() as u:
        u.publish(make_message("layercake.acme.identity.x", "acme"))
        # rolled back: the relay has nothing to do
    assert calls == [1]
    with database.transaction() as s:
        row = s.execute(select(outbox)).one()
    assert row.created_time == clock.now()
    assert row.tenant_id == "acme"


class Seen:
    """Remembers what it was handed: (stream, version, event id) -> position."""

    name = "seen"

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int, str], int] = {}

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        self.positions |= {(e.stream_id, e.version, e.event_id): e.position for e in events}

    def clear(self, session: Session) -> None:
        self.positions.clear()


def test_projections_see_each_event_at_the_position_it_is_stored_at(
    database: Database, clock: FixedClock
) -> None:
    seen = Seen()
    factory = UnitOfWorkFactory(database.sessions, clock, [seen])
    a, b, c = random_id("a-"), random_id("b-"), random_id("c-")
    with factory() as uow:
        uow.append(a, 0, new("a1", "a2"), META)
        uow.commit()
    with factory() as uow:  # a refused block in the middle: its rows are taken back
        uow.append(b, 0, new("b1", "b2"), META)
        uow.append(a, 1, new("stale"), META)
        uow.append(c, 0, new("c1"), META)
        with pytest.raises(ConcurrencyError):
            uow.flush()
        uow.append(c, 1, new("c2"), META)
        uow.commit()
    with factory() as uow:
        stored = {(e.stream_id, e.version, e.event_id): e.position for e in uow.events.read_all()}
    assert seen.positions == {k: p for k, p in stored.items() if k[0] in {a, b, c}}
    assert len(seen.positions) == 6
