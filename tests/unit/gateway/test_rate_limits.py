"""Per-key limits shared by replicas: two limiters on one store never pass one key's burst
and rate together, and write the store once per chunk of tokens, not once per call."""

from __future__ import annotations

import pytest

from services.gateway.rate_limits import SharedRateLimiter
from services.kernel.errors import ResourceExhausted
from tests.unit.gateway.fakes import CountingLayer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def replicas(rate: float, burst: float, clock: Clock) -> tuple[SharedRateLimiter, ...]:
    one = CountingLayer()
    other = CountingLayer()
    other.db = one.db  # the same store
    return SharedRateLimiter(one, rate, burst, clock), SharedRateLimiter(other, rate, burst, clock)


async def admitted(limiter: SharedRateLimiter, key: str, cost: float = 1) -> bool:
    try:
        await limiter.acquire(key, cost)
    except ResourceExhausted:
        return False
    return True


async def test_two_replicas_together_never_pass_the_keys_burst() -> None:
    clock = Clock()
    a, b = replicas(rate=1, burst=100, clock=clock)
    passed = [await admitted(r, "k") for _ in range(100) for r in (a, b)]
    assert sum(passed) <= 100  # one bucket, not one per replica
    assert sum(passed) >= 100 - 2 * a.chunk  # at most a chunk each leased and unspent
    with pytest.raises(ResourceExhausted) as over:
        await a.acquire("k")
    assert over.value.retry_after is not None and over.value.retry_after > 0
    clock.now += 50  # tokens come back at the rate, for every replica
    assert sum([await admitted(r, "k") for _ in range(30) for r in (a, b)]) <= 50


async def test_keys_do_not_share_a_bucket() -> None:
    a, b = replicas(rate=1, burst=10, clock=Clock())
    assert all([await admitted(a, "k1") for _ in range(10)])
    assert await admitted(b, "k2")


async def test_a_call_costing_more_than_the_whole_burst_is_refused_without_a_wait() -> None:
    a, _ = replicas(rate=1, burst=10, clock=Clock())
    with pytest.raises(ResourceExhausted) as refused:
        await a.acquire("k", 11)  # the bucket is full: still refused
    assert refused.value.retry_after is None
    assert "exceeds" in str(refused.value)
    assert await admitted(a, "k", 10)  # the whole burst fits


async def test_the_store_is_written_once_per_chunk_not_per_call() -> None:
    clock = Clock()
    layer = CountingLayer()
    limiter = SharedRateLimiter(layer, rate=1, burst=1000, clock=clock)
    leases = 0
    run = layer.run

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal leases
        leases += 1
        return await run(*args, **kwargs)  # type: ignore[arg-type]

    layer.run = counted  # type: ignore[method-assign]
    for _ in range(300):
        await limiter.acquire("k")
    assert leases <= 300 / limiter.chunk + 1
