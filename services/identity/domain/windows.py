"""A computed trait's sliding window for one profile: bounded, whatever the person does.

Events fall into buckets of `width = max(1s, window / 1024)`; a bucket keeps only what
the aggregation needs (count, sum, min, max, first, last, distinct values) and the time
of its newest event. A bucket leaves the window when its newest event does, so the value
is exact for events further apart than `width` and never drops an event early; at most
1,025 buckets and `MAX_DISTINCT` distinct values are kept, so the cost of an event does
not grow with the history. Pure: the store keeps the state, the kernel's timers fire
at `next_expiry`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from services.identity.domain.computed_traits import NUMERIC, Aggregation

BUCKETS = 1024
MAX_DISTINCT = 1000


def bucket_width(window: timedelta) -> timedelta:
    return max(timedelta(seconds=1), timedelta(seconds=int(window.total_seconds()) // BUCKETS))


@dataclass(frozen=True)
class Bucket:
    """What one slice of time contributed; `first`/`last` are (event time, JSON value)."""

    key: int  # start of the slice, in widths since the epoch
    newest: datetime
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    first: tuple[datetime, str] | None = None
    last: tuple[datetime, str] | None = None
    distinct: frozenset[str] = frozenset()

    def add(self, at: datetime, value: object, aggregation: Aggregation) -> Bucket:
        """The bucket with one more event, keeping only what `aggregation` reads."""
        changes: dict[str, object] = {"newest": max(self.newest, at), "count": self.count + 1}
        if aggregation in NUMERIC and isinstance(value, int | float):
            changes["total"] = self.total + value
            changes["low"] = _least(self.low, float(value))
            changes["high"] = _most(self.high, float(value))
        elif aggregation in (Aggregation.FIRST, Aggregation.LAST) and value is not None:
            stamped = (at, json.dumps(value, sort_keys=True))
            changes["first"] = _least(self.first, stamped)
            changes["last"] = _most(self.last, stamped)
        elif aggregation == Aggregation.DISTINCT and value is not None:
            changes["distinct"] = self.distinct | {json.dumps(value, sort_keys=True)}
        return replace(self, **changes)  # type: ignore[arg-type]

    def combine(self, other: Bucket) -> Bucket:
        return Bucket(
            self.key,
            max(self.newest, other.newest),
            self.count + other.count,
            self.total + other.total,
            _least(self.low, other.low),
            _most(self.high, other.high),
            _least(self.first, other.first),
            _most(self.last, other.last),
            self.distinct | other.distinct,
        )


T = TypeVar("T", float, tuple[datetime, str])


def _least(a: T | None, b: T | None) -> T | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: T | None, b: T | None) -> T | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class Window:
    """The buckets of one (profile, computed trait), oldest first."""

    width: timedelta
    buckets: list[Bucket] = field(default_factory=list)

    @classmethod
    def empty(cls, window: timedelta) -> Window:
        return cls(bucket_width(window))

    def add(
        self,
        at: datetime,
        value: object,
        aggregation: Aggregation,
        now: datetime,
        window: timedelta,
    ) -> bool:
        """Counts an event at `at` (a late one too); False when it is already outside."""
        if at + window <= now:
            return False
        if aggregation == Aggregation.DISTINCT and self._distinct_full(value):
            value = None  # counted, but past the cap of distinct values
        key = int(at.timestamp() // self.width.total_seconds())
        for n, bucket in enumerate(self.buckets):
            if bucket.key == key:
                self.buckets[n] = bucket.add(at, value, aggregation)
                return True
            if bucket.key > key:
                self.buckets.insert(n, Bucket(key, at).add(at, value, aggregation))
                return True
        self.buckets.append(Bucket(key, at).add(at, value, aggregation))
        return True

    def expire(self, now: datetime, window: timedelta) -> bool:
        """Drops the buckets whose newest event left the window; True when any did."""
        kept = [b for b in self.buckets if b.newest + window > now]
        dropped = len(kept) != len(self.buckets)
        self.buckets = kept
        return dropped

    def next_expiry(self, window: timedelta) -> datetime | None:
        """When the next bucket leaves: the timer's due time (None: nothing to expire)."""
        oldest = min((b.newest for b in self.buckets), default=None)
        return None if oldest is None else oldest + window

    def merge(self, other: Window) -> None:
        """Takes in a merged-away profile's window of the same trait."""
        by_key = {b.key: b for b in self.buckets}
        for bucket in other.buckets:
            mine = by_key.get(bucket.key)
            by_key[bucket.key] = bucket if mine is None else mine.combine(bucket)
        self.buckets = sorted(by_key.values(), key=lambda b: b.key)

    def value(self, aggregation: Aggregation) -> str | None:
        """The trait's JSON value; None when the window holds nothing to show (count, sum
        and distinct are then 0)."""
        if aggregation == Aggregation.COUNT:
            return json.dumps(sum(b.count for b in self.buckets))
        if aggregation == Aggregation.SUM:
            return _number(sum(b.total for b in self.buckets))
        if aggregation == Aggregation.DISTINCT:
            return json.dumps(len(self._distinct()))
        if aggregation in (Aggregation.MIN, Aggregation.MAX):
            low = aggregation == Aggregation.MIN
            numbers = [n for b in self.buckets if (n := b.low if low else b.high) is not None]
            if not numbers:
                return None
            return _number(min(numbers) if low else max(numbers))
        first = aggregation == Aggregation.FIRST
        stamped = [s for b in self.buckets if (s := b.first if first else b.last)]
        if not stamped:
            return None
        return (min(stamped) if first else max(stamped))[1]

    def _distinct(self) -> frozenset[str]:
        return frozenset().union(*(b.distinct for b in self.buckets))

    def _distinct_full(self, value: object) -> bool:
        seen = self._distinct()
        return len(seen) >= MAX_DISTINCT and json.dumps(value, sort_keys=True) not in seen


def _number(value: float) -> str:
    """3.0 -> `3`: sums of whole amounts stay whole."""
    if float(value).is_integer() and abs(value) < 2**53:
        return json.dumps(int(value))
    return json.dumps(round(value, 9))
