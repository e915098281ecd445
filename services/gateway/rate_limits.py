"""Per-key rate limits that hold across gateway replicas: one token bucket per API key in the
gateway's store, from which each replica leases tokens in chunks.

A call spends tokens this replica holds for the key; when they do not cover it, the replica
leases what is missing plus a chunk (a tenth of the burst) from the shared bucket in one
transaction. So however many replicas serve a key, together they never pass its rate and
burst, and the store is written once per chunk, not once per call. Tokens leased and not
spent (a replica whose traffic stopped) are at most a chunk per replica: the limit is then
reached a little early, never exceeded. A call costing more than the whole burst is refused
without a wait to retry after (no wait would do).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from services.gateway.domain.ratelimit import lease, refusal
from services.gateway.ports import GatewayUnitOfWork
from services.kernel.service_layer import Layer

CHUNK = 0.1  # of the burst, leased beyond what a call needs


def lease_tokens(
    uow: GatewayUnitOfWork,
    key_id: str,
    need: float,
    extra: float,
    rate: float,
    burst: float,
    now: float,
) -> tuple[float, float]:
    """(granted, 0), or (0, seconds to wait) when `need` does not fit the key's bucket."""
    bucket = uow.rate_buckets.get(key_id, rate, burst, now)
    granted, wait = lease(bucket, need, extra, now)
    if granted:
        uow.rate_buckets.save(key_id, bucket)
        uow.commit()
    return granted, wait


class SharedRateLimiter:
    def __init__(
        self,
        layer: Layer[GatewayUnitOfWork],
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.time,  # epoch seconds: the replicas share them
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.layer = layer
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.chunk = burst * CHUNK
        self._held: dict[str, float] = defaultdict(float)
        self._leasing: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def acquire(self, key_id: str, cost: float = 1.0) -> None:
        """Raises ResourceExhausted (with `retry_after`, unless the cost exceeds the burst)
        when `key_id` is over its rate across every replica."""
        if cost > self.burst:
            raise refusal(key_id, cost, self.rate, self.burst, None)
        if self._take(key_id, cost):
            return
        async with self._leasing[key_id]:  # one lease per key at a time on this replica
            if self._take(key_id, cost):
                return
            need = cost - self._held[key_id]
            granted, wait = await self.layer.run(
                lease_tokens, key_id, need, self.chunk, self.rate, self.burst, self.clock()
            )
            self._held[key_id] += granted
            if not self._take(key_id, cost):
                raise refusal(key_id, cost, self.rate, self.burst, wait)

    def _take(self, key_id: str, cost: float) -> bool:
        if self._held[key_id] >= cost:
            self._held[key_id] -= cost
            return True
        return False
