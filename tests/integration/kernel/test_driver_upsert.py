"""`DriverInsert(replace_on=...)`: a row of the same key is overwritten, others inserted;
`add_on=...`: its counters add the new row's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, select

from services.kernel.store.conflicts import DriverInsert
from services.kernel.store.database import Database
from services.kernel.timers.schema import timers

COLUMNS = tuple(c.name for c in timers.c)


def _row(writer: DriverInsert, timer_id: str, kind: str, due: datetime) -> tuple[object, ...]:
    at = writer.time(due)
    return ("id-" + timer_id + kind, "t1", timer_id, kind, at, b"p", at, 0, None, None, at)


def test_a_row_of_the_same_key_is_replaced_and_a_new_one_inserted(database: Database) -> None:
    writer = DriverInsert(
        timers, COLUMNS, database.engine.dialect.name, replace_on=("tenant_id", "timer_id")
    )
    first = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    later = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with database.transaction() as s:
        writer.count(s.connection(), [_row(writer, "a", "k1", first)])
    with database.transaction() as s:
        rows = [_row(writer, "a", "k2", later), _row(writer, "b", "k1", first)]
        assert writer.count(s.connection(), rows) == 2
    with database.transaction() as s:
        found = s.execute(
            select(timers.c.timer_id, timers.c.id, timers.c.kind, timers.c.due_time).order_by(
                timers.c.timer_id
            )
        ).all()
    assert [tuple(r) for r in found] == [("a", "id-ak2", "k2", later), ("b", "id-bk1", "k1", first)]


def test_skipping_and_replacing_a_conflict_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        DriverInsert(timers, COLUMNS, "sqlite", unless_conflict=True, replace_on=("id",))


def test_a_row_of_the_same_key_adds_to_its_counters(database: Database) -> None:
    """`add_on`: the other columns add the new row's values; RETURNING gives the rows after."""
    metadata = MetaData()
    tally = Table(
        "driver_upsert_tally",
        metadata,
        Column("key", String(20), primary_key=True),
        Column("hits", BigInteger, nullable=False),
        Column("misses", BigInteger, nullable=False),
    )
    metadata.create_all(database.engine)
    try:
        writer = DriverInsert(
            tally,
            ("key", "hits", "misses"),
            database.engine.dialect.name,
            add_on=("key",),
            returning=("key", "hits", "misses"),
        )
        with database.transaction() as s:
            assert sorted(writer.rows(s.connection(), [("a", 2, 0), ("b", 0, 1)])) == [
                ("a", 2, 0),
                ("b", 0, 1),
            ]
        with database.transaction() as s:
            after = writer.rows(s.connection(), [("a", 3, 0), ("c", 1, 1)])
        assert sorted(tuple(r) for r in after) == [("a", 5, 0), ("c", 1, 1)]
        with database.transaction() as s:
            found = s.execute(select(tally).order_by(tally.c.key)).all()
        assert [tuple(r) for r in found] == [("a", 5, 0), ("b", 0, 1), ("c", 1, 1)]
    finally:
        metadata.drop_all(database.engine)


def test_adding_and_skipping_a_conflict_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        DriverInsert(timers, COLUMNS, "sqlite", unless_conflict=True, add_on=("id",))
