"""Tracking plans through the real gateway: applied over gRPC, enforced by every replica once
the broadcast brings the new version, and their rejections counted and queryable."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import struct_pb2
from nats.js import JetStreamContext

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.kernel.messaging.relay import OutboxRelay
from tests.integration.gateway.conftest import StartGateway
from tests.integration.gateway.test_gateway_api import auth, event
from tests.polling import eventually

PLAN = {
    "unplanned": "allow",
    "events": {
        "Order Completed": {
            "mode": "reject",
            "schema": {
                "type": "object",
                "required": ["total"],
                "properties": {"total": {"type": "number", "minimum": 0}},
            },
        },
        "Signed Up": {"mode": "flag", "schema": {"required": ["plan"]}},
    },
}
REJECTED = gpb.IngestResult.STATUS_REJECTED
ACCEPTED = gpb.IngestResult.STATUS_ACCEPTED


def struct(document: dict[str, object]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(document)
    return value


def apply(plan: dict[str, object]) -> gpb.ApplyTrackingPlanRequest:
    return gpb.ApplyTrackingPlanRequest(plan=struct(plan), request_id=str(uuid.uuid4()))


async def test_a_plan_applied_on_one_replica_is_enforced_by_another(
    start_gateway: StartGateway, js: JetStreamContext
) -> None:
    one, two = await start_gateway(), await start_gateway()
    key = one.key()  # the tenant's admin: every scope
    order = event(event="Order Completed", properties={"total": -5})
    before = await two.stub.Ingest(gpb.IngestRequest(events=[order]), metadata=auth(key))
    assert [r.status for r in before.results] == [ACCEPTED]  # no plan yet; `two` cached that

    applied = await one.stub.ApplyTrackingPlan(apply(PLAN), metadata=auth(key))
    assert applied.tracking_plan.version == 1
    assert await OutboxRelay(one.db, js).flush() >= 1

    async def rejected() -> gpb.IngestResult | None:
        bad = event(event="Order Completed", properties={"total": -5})
        reply = await two.stub.Ingest(gpb.IngestRequest(events=[bad]), metadata=auth(key))
        return reply.results[0] if reply.results[0].status == REJECTED else None

    result = await eventually(rejected)
    assert [v.field for v in result.violations] == ["events[0].properties.total"]
    assert result.violations[0].description.startswith("tracking plan: ")

    flagged = event(event="Signed Up", properties={})
    reply = await two.stub.Ingest(gpb.IngestRequest(events=[flagged]), metadata=auth(key))
    (kept,) = reply.results
    assert kept.status == ACCEPTED
    assert [v.field for v in kept.violations] == ["events[0].properties"]

    shown = await one.stub.GetTrackingPlan(gpb.GetTrackingPlanRequest(), metadata=auth(key))
    assert shown.tracking_plan.version == 1
    assert shown.tracking_plan.plan["events"]["Order Completed"]["mode"] == "reject"
    counts = {c.event_type: (c.rejected_count, c.flagged_count) for c in shown.counts}
    assert counts["Signed Up"] == (0, 1) and counts["Order Completed"][0] >= 1


async def test_applying_the_plan_in_force_again_is_no_new_version(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    key = gateway.key()
    await gateway.stub.ApplyTrackingPlan(apply(PLAN), metadata=auth(key))
    again = await gateway.stub.ApplyTrackingPlan(apply(PLAN), metadata=auth(key))
    assert again.tracking_plan.version == 1
    blocking = await gateway.stub.ApplyTrackingPlan(
        apply(PLAN | {"unplanned": "block"}), metadata=auth(key)
    )
    assert blocking.tracking_plan.version == 2
    reply = await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event(event="page_viewed")]), metadata=auth(key)
    )
    assert [v.field for v in reply.results[0].violations] == ["events[0].event"]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"events": {"A": {"schema": {"type": "nonsense"}}}}, 'plan.events["A"].schema["type"]'),
        ({"unplanned": "sometimes"}, "plan.unplanned"),
    ],
)
async def test_a_bad_plan_is_invalid_argument_naming_the_field(
    start_gateway: StartGateway, plan: dict[str, object], field: str
) -> None:
    gateway = await start_gateway()
    key = gateway.key()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.ApplyTrackingPlan(apply(plan), metadata=auth(key))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")
    viewer = gateway.key("ingest")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await gateway.stub.ApplyTrackingPlan(apply(PLAN), metadata=auth(viewer))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
