"""The aggregate base: record applies at once, saved moves pending into the version."""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.aggregate import Aggregate


@dataclass
class Counter(Aggregate[int]):
    total: int = 0

    def add(self, n: int) -> None:
        self._record(n)

    def apply(self, event: int) -> None:
        self.total += event


def test_recorded_events_apply_at_once_and_wait_to_be_saved() -> None:
    c = Counter()
    c.add(2)
    c.add(3)
    assert (c.total, c.version, c.pending) == (5, 0, [2, 3])
    c.saved()
    assert (c.version, c.pending) == (2, [])


def test_replay_rebuilds_state_at_the_given_version_with_nothing_pending() -> None:
    c = Counter.replay([2, 3, 4], version=3)
    assert (c.total, c.version, c.pending) == (9, 3, [])
