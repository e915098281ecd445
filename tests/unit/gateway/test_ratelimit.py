"""The per-key token bucket, on an injected clock."""

from __future__ import annotations

import pytest

from services.gateway.domain.ratelimit import RateLimiter
from services.kernel.errors import ResourceExhausted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_with_the_time_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock)
    limiter.acquire("k", 20)
    with pytest.raises(ResourceExhausted) as over:
        limiter.acquire("k", 5)
    assert over.value.retry_after == pytest.approx(0.5)


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock)
    limiter.acquire("k", 20)
    clock.now += 0.5
    limiter.acquire("k", 5)
    clock.now += 3600
    limiter.acquire("k", 20)
    with pytest.raises(ResourceExhausted):
        limiter.acquire("k", 1)


def test_a_refused_call_takes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=10, clock=clock)
    limiter.acquire("k", 6)
    with pytest.raises(ResourceExhausted):
        limiter.acquire("k", 5)
    limiter.acquire("k", 4)


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=FakeClock())
    limiter.acquire("a")
    limiter.acquire("b")
    with pytest.raises(ResourceExhausted):
        limiter.acquire("a")


def test_clock_going_backwards_never_adds_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=2, clock=clock)
    limiter.acquire("k", 2)
    clock.now -= 50
    with pytest.raises(ResourceExhausted):
        limiter.acquire("k", 1)


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


def test_a_call_costing_more_than_the_burst_is_refused_even_on_a_full_bucket() -> None:
    limiter = RateLimiter(rate=10, burst=20, clock=FakeClock())
    with pytest.raises(ResourceExhausted) as over:
        limiter.acquire("k", 21)
    assert over.value.retry_after is None  # no wait makes it fit
    assert "burst" in str(over.value)
    limiter.acquire("k", 20)  # and it took nothing

