"""Internal calls are authenticated: reaching an internal port lets nobody act as any tenant.

The four services run as the runtime runs them; internal services accept only calls the
gateway signed (tenant, principal, method, a short validity), and answer in the signed
tenant only. Health and reflection stay open for probes and `grpcurl`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as igrpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as ogrpc
from services.kernel.rpc.signing import VALIDITY, InternalCalls
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.conftest import new_key
from tests.signing import SECRET, signed_channel

Ask = Callable[[grpc.aio.Channel, str], Awaitable[Any]]

ASKS: dict[str, Ask] = {
    "identity": lambda ch, tenant: igrpc.IdentityServiceStub(ch).GetProfile(
        ipb.GetProfileRequest(tenant_id=tenant, profile_ref="cookie_id:ck-1"), timeout=10
    ),
    "orchestrator": lambda ch, tenant: ogrpc.OrchestratorServiceStub(ch).GetContactState(
        opb.GetContactStateRequest(tenant_id=tenant, profile_id="p-1"), timeout=10
    ),
    "decision": lambda ch, tenant: dgrpc.DecisionServiceStub(ch).GetFeatures(
        dpb.GetFeaturesRequest(tenant_id=tenant, profile_id="p-1"), timeout=10
    ),
}


async def refusal(channel: grpc.aio.Channel, service: str, tenant: str) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ASKS[service](channel, tenant)
    return refused.value.code()


async def test_unsigned_forged_or_expired_calls_are_unauthenticated(services: Services) -> None:
    forged = InternalCalls(b"not-the-deployment-secret-at-all!")
    expired = InternalCalls(SECRET.encode(), clock=lambda: time.time() - 2 * VALIDITY)
    for service, runtime in services.internal.items():
        addr = services.addr(runtime)
        async with grpc.aio.insecure_channel(addr) as channel:
            assert await refusal(channel, service, "acme") == grpc.StatusCode.UNAUTHENTICATED
        for signer in (forged, expired):
            async with signed_channel(addr, "acme", signer) as channel:
                code = await refusal(channel, service, "acme")
                assert code == grpc.StatusCode.UNAUTHENTICATED, (service, signer)


async def test_a_valid_signature_for_one_tenant_cannot_read_another(services: Services) -> None:
    for service, runtime in services.internal.items():
        async with signed_channel(services.addr(runtime), "acme") as channel:
            code = await refusal(channel, service, "globex")
            assert code == grpc.StatusCode.PERMISSION_DENIED, service
            # its own tenant, named or not, is answered (nothing stored yet: NOT_FOUND)
            assert await refusal(channel, service, "acme") == grpc.StatusCode.NOT_FOUND
            assert await refusal(channel, service, "") == grpc.StatusCode.NOT_FOUND


async def test_health_and_reflection_stay_open(services: Services) -> None:
    for service, runtime in services.internal.items():
        await open_to_everyone(services.addr(runtime), service)


async def open_to_everyone(addr: str, service: str) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([request]), timeout=10
        )
        listed = [s.name async for r in replies for s in r.list_services_response.service]
        assert any(name.startswith(f"layercake.{service}.v1.") for name in listed)


async def test_the_gateway_signs_its_calls_for_the_keys_tenant(services: Services) -> None:
    assert services.gateway.context is not None
    key = new_key(services.gateway.context.uow, random_id("t"), "profiles:read")
    async with grpc.aio.insecure_channel(services.addr(services.gateway)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await pgrpc.ProfilesServiceStub(channel).GetProfile(
                ppb.GetProfileRequest(profile_ref="cookie_id:ck-1"),
                metadata=(("authorization", f"Bearer {key}"),),
                timeout=10,
            )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # identity took the signed call
