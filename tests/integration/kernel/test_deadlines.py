"""Deadlines propagate: a call to a peer gets at most what is left of its caller's deadline.

Two real servers in a chain: the front one's handler calls the back one with a generous
timeout of its own; the back one reports the deadline it was given.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from layercake.common.v1 import common_pb2
from layercake.gateway.v1 import profiles_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2_grpc as ggrpc
from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as igrpc
from services.kernel.rpc import client
from services.kernel.rpc.server import Server, Servicer, create_server

OWN_TIMEOUT = 60.0  # what the front server would allow its call to the back one
FRONT_BOUND = 3.0  # the front server's own bound on a call without a client deadline
# grpc-timeout travels rounded up to the wire's unit, so a peer may see a hair more
WIRE_ROUNDING = 0.01


@dataclass
class Back(igrpc.IdentityServiceServicer):
    """Records the deadline each call arrived with; `hang` never answers."""

    remaining: list[float | None] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def GetProfile(
        self, request: ipb.GetProfileRequest, context: Any
    ) -> ipb.GetProfileResponse:
        self.remaining.append(context.time_remaining())
        if request.profile_ref == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return ipb.GetProfileResponse(profile=common_pb2.Profile(profile_id="p-1"))


class Front(ggrpc.ProfilesServiceServicer):
    """Asks the back server with a timeout far longer than its caller waits."""

    def __init__(self, back_addr: str) -> None:
        self.back_addr = back_addr

    async def GetProfile(
        self, request: gpb.GetProfileRequest, context: Any
    ) -> gpb.GetProfileResponse:
        async with grpc.aio.insecure_channel(self.back_addr) as channel:
            found = await client.call(
                igrpc.IdentityServiceStub(channel).GetProfile,
                ipb.GetProfileRequest(tenant_id="acme", profile_ref=request.profile_ref),
                OWN_TIMEOUT,
            )
        return gpb.GetProfileResponse(profile=gpb.Profile(profile_id=found.profile.profile_id))


async def started(servicer: Servicer, bound: float = 30.0) -> Server:
    server = create_server("127.0.0.1:0", [servicer], default_timeout=bound)
    await server.server.start()
    return server


@pytest.fixture
async def chain() -> AsyncIterator[tuple[Back, ggrpc.ProfilesServiceAsyncStub]]:
    back = Back()
    back_server = await started(
        Servicer(
            igrpc.add_IdentityServiceServicer_to_server,
            back,
            "layercake.identity.v1.IdentityService",
        )
    )
    front_server = await started(
        Servicer(
            ggrpc.add_ProfilesServiceServicer_to_server,
            Front(f"127.0.0.1:{back_server.port}"),
            "layercake.gateway.v1.ProfilesService",
        ),
        bound=FRONT_BOUND,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{front_server.port}") as channel:
        yield back, ggrpc.ProfilesServiceStub(channel)
    await front_server.server.stop(None)
    await back_server.server.stop(None)


async def test_the_peer_gets_the_callers_remaining_deadline_not_its_own_timeout(
    chain: tuple[Back, ggrpc.ProfilesServiceAsyncStub],
) -> None:
    back, front = chain
    await front.GetProfile(gpb.GetProfileRequest(profile_ref="x"), timeout=5)
    (remaining,) = back.remaining
    assert remaining is not None and remaining <= 5 + WIRE_ROUNDING


async def test_without_a_client_deadline_the_front_servers_bound_propagates(
    chain: tuple[Back, ggrpc.ProfilesServiceAsyncStub],
) -> None:
    back, front = chain
    await front.GetProfile(gpb.GetProfileRequest(profile_ref="x"))
    (remaining,) = back.remaining
    assert remaining is not None and remaining <= FRONT_BOUND + WIRE_ROUNDING


async def test_when_the_caller_gives_up_the_peer_stops_too(
    chain: tuple[Back, ggrpc.ProfilesServiceAsyncStub],
) -> None:
    back, front = chain
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await front.GetProfile(gpb.GetProfileRequest(profile_ref="hang"), timeout=0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(back.cancelled.wait(), 10)  # not left running for OWN_TIMEOUT
    (remaining,) = back.remaining
    assert remaining is not None and remaining <= 0.5 + WIRE_ROUNDING
