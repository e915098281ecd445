"""The replica's collector settled after start-up: the start-up heap frozen, young
collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.decision import heap


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_alive_and_raises_only_the_young_threshold(
    restored: None,
) -> None:
    before: list[object] = []  # tracked by the collector, as any list is
    _, middle, old = gc.get_threshold()
    heap.settle()
    after: list[object] = []
    collected = gc.get_objects()  # every generation but the frozen one
    assert not any(o is before for o in collected)
    assert any(o is after for o in collected)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)
