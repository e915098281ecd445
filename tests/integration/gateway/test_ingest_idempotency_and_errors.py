"""Ingest through a real gateway: `request_id` retries get the first answer, and an error
echoing a huge input still reaches the caller as INVALID_ARGUMENT."""

from __future__ import annotations

import logging
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from services.kernel.logs import JsonFormatter
from tests.integration.gateway.conftest import RunningGateway
from tests.integration.gateway.test_gateway_api import auth, event, stored_count


def violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: list[tuple[str, str]] = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


async def refused(
    gateway: RunningGateway, request: gpb.IngestRequest, key: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.Ingest(request, metadata=auth(key), timeout=10)
    return raised.value


async def test_a_retry_with_the_same_request_id_gets_the_first_answer(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    request = gpb.IngestRequest(events=[event(), event()], request_id=str(uuid.uuid4()))
    first = await gateway.stub.Ingest(request, metadata=auth(key), timeout=10)
    again = await gateway.stub.Ingest(request, metadata=auth(key), timeout=10)
    assert again == first  # not "duplicate": the answer the first call got
    assert {r.status for r in again.results} == {gpb.IngestResult.STATUS_ACCEPTED}
    assert await stored_count(js, gateway.tenant) == 2


async def test_a_reused_request_id_with_another_batch_is_refused(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    key = gateway.key("ingest")
    request_id = str(uuid.uuid4())
    await gateway.stub.Ingest(
        gpb.IngestRequest(events=[event()], request_id=request_id), metadata=auth(key), timeout=10
    )
    error = await refused(gateway, gpb.IngestRequest(events=[event()], request_id=request_id), key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    ((field, description),) = violations(error)
    assert field == "request_id" and "different request" in description
    assert await stored_count(js, gateway.tenant) == 1


async def test_a_malformed_request_id_is_invalid(gateway: RunningGateway) -> None:
    key = gateway.key("ingest")
    error = await refused(gateway, gpb.IngestRequest(events=[event()], request_id="retry-1"), key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == ["request_id"]


@pytest.mark.parametrize("where", ["consent", "identifiers"])
async def test_a_20_kb_key_is_rejected_with_its_path_clipped(
    gateway: RunningGateway, where: str
) -> None:
    key = gateway.key("ingest")
    huge = "x" * 20_000
    bad = event(**{where: {huge: True} if where == "consent" else {huge: "v-1"}})
    reply = await gateway.stub.Ingest(gpb.IngestRequest(events=[bad]), metadata=auth(key))
    ((path, _),) = [(v.field, v.description) for v in reply.results[0].violations]
    assert path.startswith(f"events[0].{where}.xxxx") and path.endswith("bytes cut]")
    assert reply.ByteSize() < 1000


async def test_a_1_mb_request_is_refused_naming_its_limit_in_a_short_error(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    key = gateway.key("ingest")
    bad = event(consent={"x" * 20_000: True})
    error = await refused(gateway, gpb.IngestRequest(events=[bad] * 50), key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # retrying cannot help
    ((field, description),) = violations(error)
    assert field == "events" and "LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES" in description
    assert len(error.details() or "") < 1000
    (line,) = [JsonFormatter("gateway").format(r) for r in caplog.records if r.msg == "rpc refused"]
    assert len(line) < 10_000
