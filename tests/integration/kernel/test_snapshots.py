"""The snapshot store: when one is due, and the newest one per stream wins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.kernel.store.database import Database
from services.kernel.store.snapshots import Snapshot, Snapshots
from tests.conftest import random_id

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("every", "before", "after", "due"),
    [
        (100, 99, 100, True),
        (100, 0, 99, False),
        (100, 98, 205, True),
        (100, 100, 199, False),
        (0, 0, 1000, False),
        (1, 4, 5, True),
    ],
)
def test_a_snapshot_is_due_when_an_append_crosses_a_multiple(
    every: int, before: int, after: int, due: bool
) -> None:
    assert Snapshots(None, every).due(before, after) is due  # type: ignore[arg-type]


def test_the_newest_snapshot_of_a_stream_is_kept(database: Database) -> None:
    stream = random_id("s-")
    with database.transaction() as s:
        store = Snapshots(s, 10)
        store.save(Snapshot(stream, 20, "t", 1, b"twenty"), AT)
        store.save(Snapshot(stream, 10, "t", 1, b"ten"), AT)  # late and older: ignored
        assert store.load(stream) == Snapshot(stream, 20, "t", 1, b"twenty")
        store.save(Snapshot(stream, 30, "t", 2, b"thirty"), AT)
        assert store.load(stream) == Snapshot(stream, 30, "t", 2, b"thirty")
        assert store.load(random_id("none-")) is None
