"""The per-tenant cache: loaded once, dropped per tenant by its event, all of it by a gap."""

from __future__ import annotations

import asyncio

from services.kernel.tenant_cache import TenantCache


def test_a_tenant_loads_once_until_dropped_and_a_gap_drops_every_tenant() -> None:
    loads: list[str] = []

    def load(uow: object, tenant: str) -> str:
        loads.append(tenant)
        return f"{tenant}#{len(loads)}"

    cache: TenantCache[object, str] = TenantCache(
        load, name="test", stream="TEST", filter_subject="layercake.*.test.changed"
    )
    assert [cache.get(None, t) for t in ("a", "a", "b")] == ["a#1", "a#1", "b#2"]
    cache.invalidate("a")
    assert (cache.get(None, "a"), cache.get(None, "b")) == ("a#3", "b#2")
    spec = cache.broadcast()
    assert spec.load is not None
    asyncio.run(spec.load())  # a gap: events may have been missed
    assert (cache.get(None, "a"), cache.get(None, "b")) == ("a#4", "b#5")
