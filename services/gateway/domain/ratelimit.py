"""Per-key rate limits: token buckets, in memory (`RateLimiter`, one replica's) or shared
through the gateway's store (`lease`, what `services.gateway.rate_limits` draws on).

Each event costs a token; tokens come back at `rate` per second up to `burst`.
A call that does not fit is refused whole (nothing taken) and told how long
to wait; a call costing more than the whole burst never fits and is refused
without a wait to retry after. Time comes from an injected monotonic clock, so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.kernel.errors import ResourceExhausted


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, cost: float, now: float) -> float | None:
        """Takes `cost` tokens and returns 0, or takes nothing and returns seconds to wait
        (None when `cost` exceeds the burst, so no wait would do)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if cost > self.burst:
            return None
        if cost <= self.tokens:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


def lease(bucket: TokenBucket, need: float, extra: float, now: float) -> tuple[float, float]:
    """Takes `need` tokens and up to `extra` more from a shared bucket: (granted, 0); or, when
    `need` does not fit, nothing: (0, seconds to wait). `need` must not exceed the burst."""
    wait = bucket.take(need, now)
    if wait is None:
        raise ValueError(f"{need:g} tokens exceed the burst of {bucket.burst:g}")
    if wait > 0:
        return 0.0, wait
    more = min(max(0.0, extra), bucket.tokens)
    bucket.tokens -= more
    return need + more, 0.0


def refusal(
    key_id: str, cost: float, rate: float, burst: float, wait: float | None
) -> ResourceExhausted:
    """The error for a call that does not fit: over the rate (with the wait), or over the
    whole burst (no wait would do)."""
    if wait is None:
        return ResourceExhausted(
            f"a call costing {cost:g} exceeds API key {key_id}'s burst of {burst:g};"
            " send fewer events per call",
            retry_after=None,
        )
    return ResourceExhausted(
        f"API key {key_id} is over its rate of {rate:g} events/s", retry_after=wait
    )


class RateLimiter:
    """One bucket per key, created full on the key's first call."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def acquire(self, key_id: str, cost: float = 1.0) -> None:
        """Raises ResourceExhausted with `retry_after` when `key_id` is over its rate."""
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self.rate, self.burst, self.burst, now)
        wait = bucket.take(cost, now)
        if wait is None or wait > 0:
            raise refusal(key_id, cost, self.rate, self.burst, wait)
