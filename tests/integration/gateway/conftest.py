"""A real gateway for tests: grpc.aio server on port 0, real nats-server, real database,
and a fake identity service (a real gRPC server) that records what it is asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from layercake.common.v1 import common_pb2
from layercake.gateway.v1 import decisions_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as igrpc
from services.gateway import handlers
from services.gateway.bootstrap import MIGRATIONS, PROJECTIONS, Gateway
from services.gateway.config import GatewayConfig
from services.gateway.domain.commands import EnsureTenant
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.config import load_settings
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.messaging.broadcast import Broadcast
from services.kernel.principals import Actor
from services.kernel.rpc.server import Servicer, create_server
from services.kernel.runtime import Context
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import migrated_database, random_id
from tests.signing import ENV as SIGNING

gateway_db = migrated_database(MIGRATIONS)  # the kernel's and the gateway's revisions


@pytest.fixture
def gateway_uow(gateway_db: Database) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(
        gateway_db.sessions, SystemClock(), PROJECTIONS, kind=SqlGatewayUnitOfWork
    )


OPERATOR = Actor.system("test")


def new_key(uow: UnitOfWorkFactory, tenant: str, *scopes: str) -> str:
    """A new key of `tenant`'s admin principal (both created if missing) with `scopes`, as
    the operator makes it."""
    with uow() as unit:
        issued, _ = handlers.ensure_tenant(unit, EnsureTenant(tenant, "admin", scopes), OPERATOR)
    return issued.text


class FakeIdentity(igrpc.IdentityServiceServicer):
    """Answers a profile in the asked tenant; `email:nobody@...` is not found; records calls."""

    def __init__(self) -> None:
        self.requests: list[ipb.GetProfileRequest] = []
        self.forgets: list[ipb.ForgetProfileRequest] = []
        self.delay = 0.0

    async def ForgetProfile(
        self, request: ipb.ForgetProfileRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ipb.ForgetProfileResponse:
        self.forgets.append(request)
        return ipb.ForgetProfileResponse(profile_id="p-1", alias_profile_ids=["p-0"])

    async def GetProfile(
        self, request: ipb.GetProfileRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ipb.GetProfileResponse:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if request.profile_ref.startswith("email:nobody"):
            raise NotFound(f"no profile {request.profile_ref!r}")
        if request.profile_ref.startswith("bogus:"):
            raise InvalidArgument.field("profile_ref", "unknown identifier type")
        return ipb.GetProfileResponse(
            profile=common_pb2.Profile(
                tenant_id=request.tenant_id,
                profile_id="p-1",
                version=4,
                identifiers=[common_pb2.Identifier(type="cookie_id", value="ck-81")],
                consent={"email_marketing": True},
            )
        )


@dataclass
class RunningIdentity:
    fake: FakeIdentity
    addr: str


@pytest.fixture
async def identity() -> AsyncIterator[RunningIdentity]:
    fake = FakeIdentity()
    name = ipb.DESCRIPTOR.services_by_name["IdentityService"].full_name
    server = create_server(
        "127.0.0.1:0", [Servicer(igrpc.add_IdentityServiceServicer_to_server, fake, name)]
    )
    await server.server.start()
    yield RunningIdentity(fake, f"127.0.0.1:{server.port}")
    await server.server.stop(None)


@dataclass
class RunningGateway:
    """A started gateway, its wiring (to poke the key cache) and a stub to call it."""

    wiring: Gateway
    stub: ggrpc.GatewayServiceAsyncStub
    profiles: pgrpc.ProfilesServiceAsyncStub
    decisions: dgrpc.DecisionsServiceAsyncStub
    addr: str
    db: Database
    uow: UnitOfWorkFactory
    tenant: str = field(default_factory=lambda: random_id("t"))

    def key(self, *scopes: str, tenant: str | None = None) -> str:
        return new_key(self.uow, tenant or self.tenant, *scopes)


StartGateway = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def start_gateway(
    gateway_db: Database,
    gateway_uow: UnitOfWorkFactory,
    nats_client: Client,
    js: JetStreamContext,
    identity: RunningIdentity,
    tmp_path: Path,
) -> AsyncIterator[StartGateway]:
    """Starts a gateway (on the test's database and NATS) with the given config."""
    async with AsyncExitStack() as stack:

        async def start(
            config: GatewayConfig | None = None, rpc_timeout: float = 5.0
        ) -> RunningGateway:
            settings = load_settings(
                "gateway",
                SIGNING
                | {
                    "LAYERCAKE_STATE_DIR": str(tmp_path),
                    "LAYERCAKE_IDENTITY_ADDR": identity.addr,
                    # no decision here: its calls reach a server that implements none of them
                    "LAYERCAKE_DECISION_ADDR": identity.addr,
                    "LAYERCAKE_RPC_TIMEOUT": str(rpc_timeout),
                },
            )
            wiring = Gateway(config or GatewayConfig())
            ctx = Context(settings, gateway_db, gateway_uow, SystemClock(), nats_client, js)
            server = create_server("127.0.0.1:0", wiring.servicers(ctx), 30.0)
            stop = asyncio.Event()
            for spec in wiring.broadcasts(ctx):
                broadcast = Broadcast(spec, nats_client, js)
                await broadcast.start()
                task = asyncio.create_task(broadcast.run(stop))
                stack.push_async_callback(asyncio.wait_for, task, 10)
            stack.callback(stop.set)
            await server.server.start()
            stack.push_async_callback(wiring.stop, ctx)
            stack.push_async_callback(server.server.stop, None)
            addr = f"127.0.0.1:{server.port}"
            channel = grpc.aio.insecure_channel(addr)
            stack.push_async_callback(channel.close, None)
            return RunningGateway(
                wiring,
                ggrpc.GatewayServiceStub(channel),
                pgrpc.ProfilesServiceStub(channel),
                dgrpc.DecisionsServiceStub(channel),
                addr,
                gateway_db,
                gateway_uow,
            )

        yield start


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway()
