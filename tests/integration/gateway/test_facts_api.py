"""FactsService through the real gateway and the real orchestrator: levels kept in the
key's tenant only, an older level ignored, a bad level named, scopes held."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2

from layercake.gateway.v1 import facts_service_pb2 as pb
from tests.integration.conftest import Services
from tests.integration.gateway.team import request_id, team
from tests.integration.harness import violations


def level(product: str, store: str, units: int, seconds: int) -> pb.StockLevel:
    return pb.StockLevel(
        product=product,
        store=store,
        units=units,
        observe_time=timestamp_pb2.Timestamp(seconds=1_772_000_000 + seconds),
    )


async def test_stock_levels_set_and_read_back_per_tenant(services: Services) -> None:
    async with team(services) as t, team(services) as other:
        f = t.facts
        wanted = pb.GetFactsRequest(
            stock_keys=[
                pb.StockKey(product="water", store="s-12"),
                pb.StockKey(product="soda", store="s-12"),
                pb.StockKey(product="nothing", store="s-12"),
            ]
        )
        first = pb.SetFactsRequest(
            stock_levels=[level("water", "s-12", 0, 10), level("soda", "s-12", 7, 10)],
            request_id=request_id(),
        )
        applied = await f.SetFacts(first, metadata=t.auth("crm"), timeout=10)
        assert applied.applied_count == 2
        assert await f.SetFacts(first, metadata=t.auth("crm"), timeout=10) == applied  # a retry
        stale = pb.SetFactsRequest(
            stock_levels=[level("water", "s-12", 99, 5)], request_id=request_id()
        )
        assert (await f.SetFacts(stale, metadata=t.auth("ops"), timeout=10)).applied_count == 0
        held = await f.GetFacts(wanted, metadata=t.auth("vic"), timeout=10)
        assert [(s.product, s.units, s.observe_time.seconds) for s in held.stock_levels] == [
            ("water", 0, 1_772_000_010),
            ("soda", 7, 1_772_000_010),
        ]
        theirs = await other.facts.GetFacts(wanted, metadata=other.auth("vic"), timeout=10)
        assert list(theirs.stock_levels) == []


async def test_refusals_name_the_scope_or_the_field(services: Services) -> None:
    async with team(services) as t:
        f = t.facts
        request = pb.SetFactsRequest(stock_levels=[level("water", "s-1", 3, 0)])
        with pytest.raises(grpc.aio.AioRpcError) as viewer:
            await f.SetFacts(request, metadata=t.auth("vic"), timeout=10)
        assert viewer.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "facts:write" in (viewer.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as nobody:
            await f.GetFacts(pb.GetFactsRequest(), timeout=10)
        assert nobody.value.code() == grpc.StatusCode.UNAUTHENTICATED
        bad = pb.SetFactsRequest(
            stock_levels=[
                level("water", "s-1", 3, 0),
                pb.StockLevel(store="s-1", units=1),
                pb.StockLevel(
                    product="x",
                    store="s-1",
                    observe_time=timestamp_pb2.Timestamp(seconds=-(10**12)),
                ),
            ]
        )
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await f.SetFacts(bad, metadata=t.auth("crm"), timeout=10)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(invalid.value) == ["stock_levels[2].observe_time"]
        del bad.stock_levels[2]
        with pytest.raises(grpc.aio.AioRpcError) as unnamed:
            await f.SetFacts(bad, metadata=t.auth("crm"), timeout=10)
        assert violations(unnamed.value) == ["stock_levels[1].product"]
        with pytest.raises(grpc.aio.AioRpcError) as no_levels:
            await f.SetFacts(pb.SetFactsRequest(), metadata=t.auth("crm"), timeout=10)
        assert violations(no_levels.value) == ["stock_levels"]
        with pytest.raises(grpc.aio.AioRpcError) as no_keys:
            await f.GetFacts(pb.GetFactsRequest(), metadata=t.auth("vic"), timeout=10)
        assert violations(no_keys.value) == ["stock_keys"]
        found = await f.GetFacts(
            pb.GetFactsRequest(stock_keys=[pb.StockKey(product="water", store="s-1")]),
            metadata=t.auth("vic"),
            timeout=10,
        )
        assert list(found.stock_levels) == []  # nothing of a refused request was kept
