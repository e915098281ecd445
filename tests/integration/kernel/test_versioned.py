"""save_if_newer: the newest snapshot wins on SQLite and PostgreSQL, even between racing writers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table, select

from services.kernel.store.database import Database
from services.kernel.store.versioned import save_if_newer
from tests.conftest import random_id

metadata = MetaData()
snapshots = Table(
    "test_snapshots",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("body", JSON, nullable=False),
)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    metadata.create_all(database.engine)
    yield database
    metadata.drop_all(database.engine)


def save(db: Database, version: int, body: str, item: str = "i-1") -> bool:
    row = {"tenant_id": "acme", "item_id": item, "version": version, "body": {"v": body}}
    return db.run_sync(lambda s: save_if_newer(s, snapshots, row, version="version"))


def stored(db: Database, item: str = "i-1") -> tuple[int, str]:
    row = db.run_sync(
        lambda s: s.execute(select(snapshots).where(snapshots.c.item_id == item)).one()
    )
    return row.version, row.body["v"]


def test_a_newer_version_replaces_an_older_or_equal_one_does_not(db: Database) -> None:
    assert save(db, 2, "two")
    assert not save(db, 2, "two again")
    assert not save(db, 1, "one")
    assert save(db, 5, "five")
    assert not save(db, 3, "three")
    assert stored(db) == (5, "five")


@pytest.mark.parametrize(
    "row",
    [
        {"tenant_id": "acme", "item_id": "", "version": 1, "body": {}},
        {"tenant_id": "acme", "item_id": "i", "version": 0, "body": {}},
        {"tenant_id": "acme", "item_id": "i", "body": {}},
    ],
)
def test_a_snapshot_without_key_or_version_is_refused(db: Database, row: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        db.run_sync(lambda s: save_if_newer(s, snapshots, row, version="version"))


def test_racing_writers_leave_the_newest_version(db: Database) -> None:
    items = [random_id("i-") for _ in range(20)]
    writes = [(item, v) for item in items for v in (3, 1, 2)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda w: save(db, w[1], str(w[1]), item=w[0]), writes))
    assert {stored(db, item) for item in items} == {(3, "3")}
