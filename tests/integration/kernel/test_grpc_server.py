"""The gRPC bootstrap: rich errors, no tracebacks, deadlines, health and reflection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from layercake.common.v1 import common_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.kernel import errors
from services.kernel.rpc.client import call
from services.kernel.rpc.server import Server, Servicer, create_server

SERVICE = "layercake.identity.v1.IdentityService"
SERVER_TIMEOUT = 0.5
SECRET = "postgresql://admin:hunter2@db"


class Scripted(pb_grpc.IdentityServiceServicer):
    """Behaves as `profile_ref` says: the errors a real servicer can run into."""

    async def GetProfile(
        self,
        request: pb.GetProfileRequest,
        context: grpc.aio.ServicerContext[pb.GetProfileRequest, pb.GetProfileResponse],
    ) -> pb.GetProfileResponse:
        match request.profile_ref:
            case "bad":
                v = errors.Violations()
                v.require(request.tenant_id, "tenant_id")
                v.add("profile_ref", "must be <type>:<value> or a profile id")
                v.raise_if_any()
            case "crash":
                raise RuntimeError(f"cannot connect to {SECRET}")
            case "hang":
                await asyncio.Event().wait()  # never answers: only a deadline ends this
            case "busy":
                raise errors.ResourceExhausted("quota used up", retry_after=2.5)
            case "stale":
                raise errors.ConcurrencyError("profile moved on")
            case "gone":
                raise errors.NotFound("no such profile")
            case "abort":
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by handler")
        return pb.GetProfileResponse(
            profile=common_pb2.Profile(tenant_id=request.tenant_id, profile_id="p-1")
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    servicer = Servicer(pb_grpc.add_IdentityServiceServicer_to_server, Scripted(), SERVICE)
    srv = create_server("127.0.0.1:0", [servicer], default_timeout=SERVER_TIMEOUT)
    await srv.server.start()
    await srv.serving(True)
    yield srv
    await srv.server.stop(None)


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


async def failing(
    channel: grpc.aio.Channel, ref: str, timeout: float | None = None
) -> grpc.aio.AioRpcError:
    stub = pb_grpc.IdentityServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetProfile(pb.GetProfileRequest(tenant_id="", profile_ref=ref), timeout=timeout)
    return raised.value


def unpacked(error: grpc.aio.AioRpcError, kind: type) -> list:  # type: ignore[type-arg]
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found = []
    for detail in status.details:
        message = kind()
        if detail.Unpack(message):
            found.append(message)
    return found


async def test_a_good_call_answers(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.IdentityServiceStub(channel)
    reply = await stub.GetProfile(
        pb.GetProfileRequest(tenant_id="acme", profile_ref="x"), timeout=5
    )
    assert reply.profile.profile_id == "p-1"


async def test_invalid_argument_carries_a_bad_request_naming_each_field(
    channel: grpc.aio.Channel,
) -> None:
    error = await failing(channel, "bad", timeout=5)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = unpacked(error, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["tenant_id", "profile_ref"]
    assert bad.field_violations[0].description == "is required"
    (info,) = unpacked(error, error_details_pb2.ErrorInfo)
    assert info.reason == "INVALID_ARGUMENT"


async def test_an_unexpected_error_is_internal_without_a_trace(channel: grpc.aio.Channel) -> None:
    error = await failing(channel, "crash", timeout=5)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    (info,) = unpacked(error, error_details_pb2.ErrorInfo)
    assert info.reason == "INTERNAL"
    everything = repr(error.trailing_metadata()) + repr(error.initial_metadata()) + str(error)
    for leak in ("Traceback", "RuntimeError", "hunter2", "test_grpc_server.py"):
        assert leak not in everything


async def test_resource_exhausted_tells_when_to_retry(channel: grpc.aio.Channel) -> None:
    error = await failing(channel, "busy", timeout=5)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    (retry,) = unpacked(error, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 2500


async def test_a_concurrency_conflict_is_aborted(channel: grpc.aio.Channel) -> None:
    assert (await failing(channel, "stale", timeout=5)).code() == grpc.StatusCode.ABORTED


async def test_a_handler_abort_passes_through(channel: grpc.aio.Channel) -> None:
    error = await failing(channel, "abort", timeout=5)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "aborted by handler"


async def test_the_client_deadline_is_enforced(channel: grpc.aio.Channel) -> None:
    error = await failing(channel, "hang", timeout=0.2)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_the_server_bounds_a_call_without_a_client_deadline(
    channel: grpc.aio.Channel,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = await failing(channel, "hang")  # no timeout from the client at all
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert loop.time() - started < SERVER_TIMEOUT + 2


async def test_the_peer_client_maps_statuses_back_to_domain_errors(
    channel: grpc.aio.Channel,
) -> None:
    stub = pb_grpc.IdentityServiceStub(channel)
    request = pb.GetProfileRequest(tenant_id="", profile_ref="bad")
    with pytest.raises(errors.InvalidArgument) as bad:
        await call(stub.GetProfile, request, timeout=5)
    assert [v.field for v in bad.value.violations] == ["tenant_id", "profile_ref"]
    with pytest.raises(errors.ConcurrencyError):
        await call(stub.GetProfile, pb.GetProfileRequest(profile_ref="stale"), timeout=5)
    with pytest.raises(errors.NotFound):
        await call(stub.GetProfile, pb.GetProfileRequest(profile_ref="gone"), timeout=5)
    with pytest.raises(errors.DeadlineExceeded):
        await call(stub.GetProfile, pb.GetProfileRequest(profile_ref="hang"), timeout=0.2)
    with pytest.raises(errors.ResourceExhausted) as busy:
        await call(stub.GetProfile, pb.GetProfileRequest(profile_ref="busy"), timeout=5)
    assert busy.value.retry_after == 2.5  # the peer's RetryInfo survives the hop
    reply = await call(stub.GetProfile, pb.GetProfileRequest(tenant_id="acme"), timeout=5)
    assert reply.profile.tenant_id == "acme"


async def test_health_reports_serving_then_not_serving(
    server: Server, channel: grpc.aio.Channel
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == serving
    await server.serving(False)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_lists_and_describes_the_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    replies = [r async for r in stub.ServerReflectionInfo(iter(requests), timeout=5)]
    listed = {s.name for s in replies[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= listed
    files = replies[1].file_descriptor_response.file_descriptor_proto
    assert files, replies[1]
    assert any(b"IdentityService" in f and b"GetProfile" in f for f in files)


async def test_an_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    error = await raw_call(channel, f"/{SERVICE}/NoSuchMethod", b"")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def raw_call(channel: grpc.aio.Channel, method: str, body: bytes) -> grpc.aio.AioRpcError:
    """Sends `body` as the request bytes, as a careless or hostile client can."""
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(body, timeout=5)
    return raised.value


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x12\x02\xc3\x28", id="invalid-utf8-in-a-string"),
        pytest.param(b"\x0a\xff", id="truncated-length"),
        pytest.param(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", id="overlong-varint"),
    ],
)
async def test_an_undecodable_request_is_invalid_argument_with_one_line_and_no_traceback(
    channel: grpc.aio.Channel, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error = await raw_call(channel, f"/{SERVICE}/GetProfile", body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "the request is not a valid layercake.identity.v1.GetProfileRequest in protobuf binary form"
    )
    assert "DecodeError" not in repr(error.trailing_metadata()) + str(error)
    (info,) = unpacked(error, error_details_pb2.ErrorInfo)
    assert info.reason == "INVALID_ARGUMENT"
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in lines] == ["undecodable request"]
    assert lines[0].exc_info is None and lines[0].method == f"/{SERVICE}/GetProfile"  # type: ignore[attr-defined]
    assert not any(r.exc_info for r in caplog.records)


async def test_an_undecodable_health_check_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    error = await raw_call(channel, "/grpc.health.v1.Health/Check", b"\x0a\x02\xc3\x28")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
