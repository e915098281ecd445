"""The event log: append, load, global order, and optimistic concurrency under real threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from services.kernel.clock import FixedClock
from services.kernel.errors import ConcurrencyError, DuplicateEvent, EventTooLarge
from services.kernel.principals import Actor, PrincipalKind
from services.kernel.store.database import Database
from services.kernel.store.limits import StoreLimits
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage, StoredEvent
from services.kernel.store.schema import events
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import EVENT_TYPE

META = EventMetadata(
    tenant_id="acme", actor=Actor("tester", PrincipalKind.PERSON), correlation_id="corr-1"
)
BARRIER_TIMEOUT = 10.0
LIMITS = StoreLimits(max_event_bytes=1000)


def event(label: str) -> NewEvent:
    return NewEvent(EVENT_TYPE, label.encode())


def append(uow: UnitOfWorkFactory, stream: str, expected: int, *labels: str) -> list[StoredEvent]:
    """Appends and commits; returns the events as loaded back in the same transaction."""
    with uow() as u:
        u.append(stream, expected, [event(x) for x in labels], META)
        stored = u.load(stream)[expected:]
        u.commit()
    return stored


def read_version(uow: UnitOfWorkFactory, stream: str) -> int:
    with uow() as u:
        return u.events.current_version(stream)


def stream_rows(db: Database, stream: str) -> list[tuple[int, bytes]]:
    with db.transaction() as s:
        rows = s.execute(
            select(events.c.version, events.c.payload)
            .where(events.c.stream_id == stream)
            .order_by(events.c.version)
        )
        return [(r.version, r.payload) for r in rows]


def test_append_and_load_roundtrip(uow: UnitOfWorkFactory, clock: FixedClock) -> None:
    stream = random_id("s-")
    first = append(uow, stream, 0, "a", "b")
    clock.advance(timedelta(minutes=1))
    second = append(uow, stream, 2, "c")
    assert [e.version for e in first + second] == [1, 2, 3]
    assert first[0].position < first[1].position < second[0].position
    assert second[0].recorded_time == clock.now()
    assert second[0].recorded_time.utcoffset() == timedelta(0)

    with uow() as u:
        loaded = u.events.load(stream)
        tail = u.events.load(stream, after_version=2)
        assert u.events.current_version(stream) == 3
        assert u.events.current_version(random_id("none-")) == 0
        u.append(stream, 3, [], META)
        assert u.events.current_version(stream) == 3
    assert loaded == first + second
    assert [e.payload for e in tail] == [b"c"]
    assert loaded[0].metadata == META
    assert loaded[0].type == EVENT_TYPE


def test_read_all_pages_in_global_order(uow: UnitOfWorkFactory) -> None:
    a, b = random_id("a-"), random_id("b-")
    append(uow, a, 0, "a1")
    append(uow, b, 0, "b1", "b2")
    append(uow, a, 1, "a2")
    seen: list[bytes] = []
    position = 0
    with uow() as u:
        while page := u.events.read_all(after_position=position, limit=2):
            assert len(page) <= 2
            seen += [e.payload for e in page]
            position = page[-1].position
    assert seen == [b"a1", b"b1", b"b2", b"a2"]


def test_a_stale_expected_version_is_a_concurrency_error(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    append(uow, stream, 0, "a", "b")
    for stale in (0, 1):
        with pytest.raises(ConcurrencyError):
            append(uow, stream, stale, "late")
    assert stream_rows(database, stream) == [(1, b"a"), (2, b"b")]


def test_a_block_that_conflicts_part_way_leaves_nothing_behind(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """Expecting 1 when the stream is at 2: version 2 conflicts, version 3 must not stay."""
    stream = random_id("s-")
    append(uow, stream, 0, "a", "b")
    with uow() as u:
        u.append(stream, 1, [event("x"), event("y")], META)
        with pytest.raises(ConcurrencyError):
            u.flush()
        # the transaction is still usable: the writer reloads and appends in it
        u.append(stream, u.events.current_version(stream), [event("c")], META)
        u.commit()
    assert stream_rows(database, stream) == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_an_event_id_recorded_elsewhere_is_a_duplicate_not_a_conflict(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    first = NewEvent(EVENT_TYPE, b"a")
    append(uow, stream, 0, "z")
    with uow() as u:
        u.append(stream, 1, [first], META)
        u.commit()
    with pytest.raises(DuplicateEvent, match=f"version 2 of stream '{stream}'"), uow() as u:
        u.append(random_id("s-"), 0, [first], META)
        u.flush()
    with pytest.raises(DuplicateEvent), uow() as u:  # same place, other content
        u.append(stream, 1, [NewEvent(EVENT_TYPE, b"other", event_id=first.event_id)], META)
        u.commit()
    with pytest.raises(DuplicateEvent, match="twice in one append"), uow() as u:
        u.append(random_id("s-"), 0, [first, first], META)
    assert stream_rows(database, stream) == [(1, b"z"), (2, b"a")]


def test_repeating_an_append_that_happened_records_nothing_and_succeeds(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """A retry with deterministic ids after a commit whose answer was lost."""
    stream = random_id("s-")
    block = [NewEvent(EVENT_TYPE, b"a"), NewEvent(EVENT_TYPE, b"b")]
    with uow() as u:
        u.append(stream, 0, block, META)
        u.commit()
    with uow() as u:
        u.append(stream, 0, block, META)
        u.commit()
    assert stream_rows(database, stream) == [(1, b"a"), (2, b"b")]


def test_an_event_over_the_size_limit_is_never_recorded(database: Database) -> None:
    small = UnitOfWorkFactory(database.sessions, FixedClock(datetime.now(UTC)), limits=LIMITS)
    stream = random_id("s-")
    with small() as u:
        with pytest.raises(EventTooLarge, match="1,001 bytes, over the 1,000-byte limit"):
            u.append(stream, 0, [NewEvent(EVENT_TYPE, b"x" * 1001)], META)
        with pytest.raises(EventTooLarge, match="integration event"):
            u.publish(OutboxMessage("layercake.acme.x.y", EVENT_TYPE, b"x" * 1001, "acme"))
        u.append(stream, 0, [NewEvent(EVENT_TYPE, b"x" * 1000)], META)  # at the limit: fine
        u.commit()
    assert stream_rows(database, stream) == [(1, b"x" * 1000)]


def test_the_schema_version_is_stored_with_each_event(uow: UnitOfWorkFactory) -> None:
    stream = random_id("s-")
    with uow() as u:
        u.append(
            stream,
            0,
            [NewEvent(EVENT_TYPE, b"a"), NewEvent(EVENT_TYPE, b"b", schema_version=3)],
            META,
        )
        u.commit()
    with uow() as u:
        assert [e.schema_version for e in u.events.load(stream)] == [1, 3]


def test_two_writers_one_wins_the_other_retries(uow: UnitOfWorkFactory, database: Database) -> None:
    """Both read version N, then both append expecting N: exactly one wins."""
    stream = random_id("s-")
    append(uow, stream, 0, "seed-1", "seed-2")
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    retried: list[int] = []

    def writer(label: str) -> str:
        seen = read_version(uow, stream)
        barrier.wait()  # both have read version 2 before either appends
        with uow() as u:
            try:
                u.append(stream, seen, [event(label)], META)
                u.flush()
                outcome = "won"
            except ConcurrencyError:
                # The refused insert was taken back: the same unit of work can reload
                # and append again.
                current = u.events.current_version(stream)
                retried.append(current)
                u.append(stream, current, [event(label)], META)
                outcome = "retried"
            u.commit()
        return outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(writer, ["x", "y"]))

    assert sorted(outcomes) == ["retried", "won"]
    assert retried == [3]
    rows = stream_rows(database, stream)
    assert [v for v, _ in rows] == [1, 2, 3, 4]
    assert sorted(p for _, p in rows[2:]) == [b"x", b"y"]


def test_writers_holding_open_transactions_conflict(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """Read and append in one transaction each, both open at once (PostgreSQL only)."""
    if database.is_sqlite:
        pytest.skip(
            "SQLite takes the write lock at BEGIN IMMEDIATE, so a second writer cannot "
            "even read until the first commits; two open writers cannot interleave"
        )
    stream = random_id("s-")
    append(uow, stream, 0, "seed")
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT)

    def writer(label: str) -> str:
        with uow() as u:
            seen = u.events.current_version(stream)
            barrier.wait()
            try:
                u.append(stream, seen, [event(label)], META)
                u.flush()
            except ConcurrencyError:
                return "conflict"
            u.commit()
            return "won"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(writer, ["x", "y"]))
    assert sorted(outcomes) == ["conflict", "won"]
    assert [v for v, _ in stream_rows(database, stream)] == [1, 2]


def test_many_writers_with_retries_leave_no_gaps(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    stream = random_id("s-")
    writers, each = 4, 5
    barrier = threading.Barrier(writers, timeout=BARRIER_TIMEOUT)

    def writer(n: int) -> int:
        conflicts = 0
        barrier.wait()
        for i in range(each):
            while True:
                seen = read_version(uow, stream)
                try:
                    append(uow, stream, seen, f"w{n}-{i}")
                    break
                except ConcurrencyError:
                    conflicts += 1
        return conflicts

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(writer, range(writers)))

    rows = stream_rows(database, stream)
    assert [v for v, _ in rows] == list(range(1, writers * each + 1))
    assert sorted(p for _, p in rows) == sorted(
        f"w{n}-{i}".encode() for n in range(writers) for i in range(each)
    )
    # Each writer's own events stay in the order it appended them.
    for n in range(writers):
        mine = [p for _, p in rows if p.startswith(f"w{n}-".encode())]
        assert mine == [f"w{n}-{i}".encode() for i in range(each)]


def test_loading_a_stream_searches_its_index_never_scans_the_log(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """The plans of the statements `current_version` and `load` really send (SQLite's
    planner does not depend on table size; PostgreSQL's does, so it is checked by hand)."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL picks a sequential scan for a table this small")
    stream = random_id("s-")
    append(uow, stream, 0, "a", "b")
    sent: list[tuple[str, object]] = []

    def record(conn: object, cursor: object, sql: str, params: object, *_: object) -> None:
        sent.append((sql, params))

    sqlalchemy_event.listen(database.engine, "before_cursor_execute", record)
    try:
        with uow() as u:
            u.events.current_version(stream)
            u.events.load(stream, after_version=1)
    finally:
        sqlalchemy_event.remove(database.engine, "before_cursor_execute", record)
    queries = [(sql, params) for sql, params in sent if sql.lstrip().startswith("SELECT")]
    assert len(queries) == 2
    with database.engine.connect() as conn:
        for sql, params in queries:
            plan = " ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "SEARCH events USING" in plan and "INDEX" in plan, plan
            assert "SCAN events" not in plan, plan


def test_appends_and_integration_events_wait_for_the_flush(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """Appends and integration events are written behind: nothing reaches the driver before
    the flush, then only their inserts (SQLite's trace shows what the driver runs)."""
    if not database.is_sqlite:
        pytest.skip("the statement trace is SQLite's")
    sent: list[str] = []
    with uow() as u:
        driver = u.session.connection().connection.driver_connection
        driver.set_trace_callback(sent.append)  # type: ignore[union-attr]
        try:
            for n in range(100):
                u.append(random_id("s-"), 0, [event(f"e{n}")], META)
                u.publish(OutboxMessage("layercake.acme.x.y", EVENT_TYPE, b"p", "acme"))
            assert sent == []  # nothing written yet
            u.commit()
        finally:
            driver.set_trace_callback(None)  # type: ignore[union-attr]
    inserts = [sql.split(" (")[0] for sql in sent if sql.startswith("INSERT")]
    assert inserts == ["INSERT INTO events"] * 100 + ["INSERT INTO outbox"] * 100
    with uow() as u:
        assert len(u.events.read_all(limit=1000)) == 100


def test_a_value_too_long_for_its_column_is_refused_not_cut(
    uow: UnitOfWorkFactory, database: Database
) -> None:
    """PostgreSQL gets each column as an array: its cast must not shorten a long value."""
    if database.is_sqlite:
        pytest.skip("SQLite keeps a string of any length")
    with pytest.raises(DBAPIError, match="too long"), uow() as u:
        u.append("s-" + "x" * 300, 0, [event("a")], META)
        u.commit()
