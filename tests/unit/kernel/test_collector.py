import gc
import weakref
from collections.abc import Iterator

import pytest

from services.kernel import collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored")
def test_settling_freezes_what_start_up_built_and_spaces_young_collections() -> None:
    built = [[n] for n in range(100)]  # start-up's objects, alive after it
    gc.unfreeze()
    collector.settle()
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold() == (collector.YOUNG, *collector.OLDER)
    assert gc.get_count()[0] < collector.YOUNG


@pytest.mark.usefixtures("restored")
def test_cycles_made_after_settling_are_still_collected_on_their_own() -> None:
    collector.settle()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    churn = [[n] for n in range(collector.YOUNG * 2)]  # allocations trigger a collection
    assert gone() is None and churn
