"""Business facts through the real servicer (scope, tenant, idempotency) and through
JetStream (`layercake.<tenant>.facts.*`, out of order), into one read model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from nats.js import JetStreamContext

from layercake.orchestrator.v1 import facts_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.clock import SystemClock
from services.kernel.messaging.consumer import ConsumerRunner
from services.kernel.protobuf import to_timestamp
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator.consumers.facts import FACTS_PUBLISHED, facts_consumer
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN, CAT, OPS
from tests.integration.harness import consume, publish, violations
from tests.integration.orchestrator.people import People

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def level(units: int, at: datetime, store: str = "s-12") -> facts_pb2.StockLevel:
    return facts_pb2.StockLevel(
        product="water", store=store, units=units, observe_time=to_timestamp(at)
    )


async def held(people: People, store: str = "s-12") -> list[int]:
    keys = [pb.StockKey(product="water", store=store)]
    got = await people(ANN).GetFacts(pb.GetFactsRequest(stock_keys=keys), timeout=10)
    return [s.units for s in got.stock_levels]


async def test_set_facts_needs_facts_write_and_a_retry_answers_the_same(people: People) -> None:
    request = pb.SetFactsRequest(stock_levels=[level(3, AT)], request_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await people(CAT).SetFacts(request, timeout=10)  # an approver only
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    first = await people(OPS).SetFacts(request, timeout=10)
    assert (first.applied_count, first.back_in_stock_count) == (1, 0)
    again = await people(OPS).SetFacts(request, timeout=10)
    assert again == first
    older = pb.SetFactsRequest(
        stock_levels=[level(9, AT - timedelta(hours=1))], request_id=str(uuid.uuid4())
    )
    assert (await people(OPS).SetFacts(older, timeout=10)).applied_count == 0
    assert await held(people) == [3]
    assert await held(people, store="nowhere") == []


async def test_bad_levels_and_another_tenant_are_refused(people: People) -> None:
    bad = pb.SetFactsRequest(
        stock_levels=[facts_pb2.StockLevel(product="", store="s-1", units=1)],
        request_id=str(uuid.uuid4()),
    )
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await people(OPS).SetFacts(bad, timeout=10)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(invalid.value) == ["stock_levels[0].product"]
    other = pb.SetFactsRequest(tenant_id="globex", request_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await people(OPS).SetFacts(other, timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_facts_from_nats_in_any_order_keep_the_newest(
    js: JetStreamContext, service_db: Database
) -> None:
    tenant = random_id("t").replace("-", "")[:20]
    spec = facts_consumer()
    units = UnitOfWorkFactory(service_db.sessions, SystemClock(), kind=SqlOrchestratorUnitOfWork)
    runner = ConsumerRunner(
        spec.__class__(
            durable=random_id("facts-"),
            stream=spec.stream,
            filter_subject=f"layercake.{tenant}.facts.>",
            handler=spec.handler,
        ),
        js,
        service_db,
        units,
    )
    for count, at in ((5, AT + timedelta(minutes=5)), (1, AT)):  # the newer one first
        body = facts_pb2.FactsPublished(stock_levels=[level(count, at)])
        await publish(
            js,
            OutboxMessage(
                subject=f"layercake.{tenant}.facts.stock",
                type=FACTS_PUBLISHED,
                payload=body.SerializeToString(),
                tenant_id=tenant,
            ),
        )
    try:
        await consume(runner, 2)
    finally:
        await runner.close()
    with units() as uow:
        fact = uow.facts.stock(tenant, "water", "s-12")
    assert fact is not None and (fact.units, fact.observe_time) == (5, AT + timedelta(minutes=5))
