"""Idempotent mutating RPCs: the first answer is recorded with the effects, a retry gets it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from sqlalchemy import insert

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from services.kernel.errors import InvalidArgument
from services.kernel.rpc import calls, idempotency
from services.kernel.rpc.idempotency import RequestKey
from services.kernel.rpc.server import Servicer, create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.integration.harness import schema_drift
from tests.integration.kernel.support import count_effects, effects
from tests.polling import eventually

METHOD = "/layercake.test.v1.WidgetService/CreateWidget"


def key(tenant: str, request_id: str | None = None) -> RequestKey:
    return RequestKey(tenant, METHOD, request_id or str(uuid.uuid4()))


def widget(name: str) -> struct_pb2.Struct:
    request = struct_pb2.Struct()
    request.update({"name": name})
    return request


def create_widget(name: str) -> Callable[[UnitOfWork], struct_pb2.Struct]:
    """A handler as services write them: effects in the unit of work, then commit."""

    def apply(uow: UnitOfWork) -> struct_pb2.Struct:
        widget_id = str(uuid.uuid4())
        uow.session.execute(insert(effects).values(event_id=name, worker=widget_id[:40]))
        uow.commit()
        answer = struct_pb2.Struct()
        answer.update({"widget_id": widget_id})
        return answer

    return apply


def run_once(
    uow: UnitOfWorkFactory, k: RequestKey | None, request: struct_pb2.Struct, name: str
) -> struct_pb2.Struct:
    with uow() as unit:
        return idempotency.once(unit, k, request, struct_pb2.Struct, create_widget(name))


def test_the_migration_creates_the_table_the_facility_uses(database: Database) -> None:
    assert schema_drift(database, idempotency.requests.metadata) == []


def test_a_retry_gets_the_first_answer_and_applies_nothing(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> None:
    k, request = key(tenant), widget("w1")
    first = run_once(uow, k, request, "w1")
    again = run_once(uow, k, request, "w1")
    assert again == first
    assert count_effects(with_effects, "w1") == 1


def test_ids_are_scoped_by_tenant_and_method(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> None:
    request_id, request = str(uuid.uuid4()), widget("w2")
    answers = [
        run_once(uow, RequestKey(t, m, request_id), request, "w2")
        for t, m in [(tenant, METHOD), (tenant + "x", METHOD), (tenant, METHOD + "2")]
    ]
    assert len({a["widget_id"] for a in answers}) == 3
    assert count_effects(with_effects, "w2") == 3


def test_a_reused_id_with_a_different_request_is_refused_naming_request_id(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> None:
    k = key(tenant)
    run_once(uow, k, widget("w3"), "w3")
    with pytest.raises(InvalidArgument) as refused:
        run_once(uow, k, widget("w3-other"), "w3-other")
    (violation,) = refused.value.violations
    assert violation.field == "request_id"
    assert "different request" in violation.description
    assert count_effects(with_effects, "w3-other") == 0


def test_nothing_is_recorded_when_the_handler_fails_so_a_retry_applies(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> None:
    k, request = key(tenant), widget("w4")

    def failing(unit: UnitOfWork) -> struct_pb2.Struct:
        create_widget("w4")(unit)
        raise RuntimeError("disk full")

    with uow() as unit, pytest.raises(RuntimeError):
        idempotency.once(unit, k, request, struct_pb2.Struct, failing)
    assert count_effects(with_effects, "w4") == 0
    run_once(uow, k, request, "w4")
    assert count_effects(with_effects, "w4") == 1


def test_without_a_request_id_each_call_applies(
    with_effects: Database, uow: UnitOfWorkFactory
) -> None:
    run_once(uow, None, widget("w5"), "w5")
    run_once(uow, None, widget("w5"), "w5")
    assert count_effects(with_effects, "w5") == 2


def test_concurrent_calls_with_one_id_apply_once_and_answer_alike(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> None:
    """Both see no answer and apply; the later insert meets the first's row, rolls its own
    effects back and answers the first's (PostgreSQL; SQLite serializes writers anyway)."""
    if with_effects.is_sqlite:
        pytest.skip("SQLite runs one writer at a time: the second call sees the first answer")
    k, request = key(tenant), widget("w6")
    applying = threading.Barrier(2, timeout=10)

    def racing(unit: UnitOfWork) -> struct_pb2.Struct:
        applying.wait()  # both are past the lookup and apply side by side
        return create_widget("w6")(unit)

    def call() -> struct_pb2.Struct:
        with uow() as unit:
            return idempotency.once(unit, k, request, struct_pb2.Struct, racing)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: call(), range(2)))
    assert answers[0] == answers[1]
    assert count_effects(with_effects, "w6") == 1


def test_request_key_reads_the_current_call_and_checks_the_id_format(tenant: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        idempotency.request_key("not-a-uuid", tenant_id=tenant, method=METHOD)
    assert refused.value.violations[0].field == "request_id"
    assert idempotency.request_key("", tenant_id=tenant, method=METHOD) is None
    request_id = str(uuid.uuid4())
    with calls.serving(calls.Call(METHOD)):
        assert idempotency.request_key(request_id.upper(), tenant_id=tenant) == RequestKey(
            tenant, METHOD, request_id
        )


class SlowToAnswer(ggrpc.GatewayServiceServicer):
    """Commits its effect and its answer, then takes longer than the caller waits."""

    def __init__(self, layer: ServiceLayer, tenant: str) -> None:
        self.layer = layer
        self.tenant = tenant
        self.slow = True

    async def Ingest(self, request: gpb.IngestRequest, context: Any) -> gpb.IngestResponse:
        k = idempotency.request_key(request.request_id, tenant_id=self.tenant)

        def apply(unit: UnitOfWork) -> gpb.IngestResponse:
            uow_answer = create_widget("slow")(unit)
            return gpb.IngestResponse(
                results=[gpb.IngestResult(message_id=uow_answer["widget_id"])]
            )

        answer = await self.layer.run(idempotency.once, k, request, gpb.IngestResponse, apply)
        if self.slow:
            await asyncio.Event().wait()  # the caller's deadline runs out after the commit
        return answer


@pytest.fixture
async def slow_server(
    with_effects: Database, uow: UnitOfWorkFactory, tenant: str
) -> AsyncIterator[tuple[SlowToAnswer, ggrpc.GatewayServiceAsyncStub]]:
    servicer = SlowToAnswer(ServiceLayer(with_effects, uow), tenant)
    name = gpb.DESCRIPTOR.services_by_name["GatewayService"].full_name
    server = create_server(
        "127.0.0.1:0", [Servicer(ggrpc.add_GatewayServiceServicer_to_server, servicer, name)]
    )
    await server.server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield servicer, ggrpc.GatewayServiceStub(channel)
    await server.server.stop(None)


async def test_a_write_committed_after_the_deadline_ran_out_is_answered_on_retry(
    with_effects: Database,
    slow_server: tuple[SlowToAnswer, ggrpc.GatewayServiceAsyncStub],
) -> None:
    servicer, stub = slow_server
    request = gpb.IngestRequest(request_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.Ingest(request, timeout=0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    async def committed() -> bool:  # the effect and the answer commit together
        return await with_effects.run(count_effects, with_effects, "slow") == 1

    await eventually(committed)
    servicer.slow = False
    retried = await stub.Ingest(request, timeout=10)
    assert retried.results[0].message_id  # the first call's answer, recorded with its effect
    assert count_effects(with_effects, "slow") == 1
    again = await stub.Ingest(request, timeout=10)
    assert again == retried
