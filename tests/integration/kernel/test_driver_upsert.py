"""`DriverInsert(replace_on=...)`: a row of the same key is overwritten, others inserted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

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
