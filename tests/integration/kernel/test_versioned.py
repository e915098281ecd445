"""merge_row: changes merge into one row on SQLite and PostgreSQL, even between racing writers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, select

from services.kernel.store.database import Database
from services.kernel.store.versioned import Row, merge_row
from tests.conftest import random_id

metadata = MetaData()
counters = Table(
    "test_counters",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("seen", JSON, nullable=False),  # the change ids merged in
)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    metadata.create_all(database.engine)
    yield database
    metadata.drop_all(database.engine)


def add(db: Database, change: str, item: str = "i-1") -> bool:
    """Merges `change` into the item's set; a change already in it writes nothing."""

    def merge(row: Row | None) -> dict[str, object] | None:
        seen = set(row["seen"]) if row is not None else set()
        return None if change in seen else {"seen": sorted(seen | {change})}

    key = {"tenant_id": "acme", "item_id": item}
    return db.run_sync(lambda s: merge_row(s, counters, key, merge))


def stored(db: Database, item: str = "i-1") -> list[str]:
    row = db.run_sync(lambda s: s.execute(select(counters).where(counters.c.item_id == item)).one())
    return list(row.seen)


def test_the_first_change_inserts_later_ones_merge_and_a_repeat_writes_nothing(
    db: Database,
) -> None:
    assert add(db, "a")
    assert add(db, "b")
    assert not add(db, "a")
    assert stored(db) == ["a", "b"]


@pytest.mark.parametrize("item", ["", None])
def test_a_change_without_its_key_is_refused(db: Database, item: str | None) -> None:
    with pytest.raises(ValueError, match="item_id"):
        db.run_sync(
            lambda s: merge_row(s, counters, {"tenant_id": "acme", "item_id": item}, lambda r: {})
        )


def test_racing_writers_lose_no_change(db: Database) -> None:
    items = [random_id("i-") for _ in range(10)]
    writes = [(item, change) for item in items for change in "abcd"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda w: add(db, w[1], item=w[0]), writes))
    assert [stored(db, item) for item in items] == [["a", "b", "c", "d"]] * len(items)
