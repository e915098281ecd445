"""Every RPC of every public gateway service, found through reflection (so a service added
later is covered without naming it here), is closed at the door: no key is UNAUTHENTICATED,
a key without the RPC's scope is PERMISSION_DENIED, a key over its rate is
RESOURCE_EXHAUSTED with RetryInfo. Malformed and cross-tenant requests, which need the real
services behind the door, are in `test_public_services.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from layercake.common.v1 import asset_pb2
from services.gateway.api import scopes
from services.gateway.config import GatewayConfig
from services.kernel.principals import Scope
from tests.integration.gateway.conftest import RunningGateway, StartGateway
from tests.integration.gateway.rpcs import Rpc, public_rpcs, retry_delay

DENIED = grpc.StatusCode.PERMISSION_DENIED


async def refusal(
    rpc: Rpc, channel: grpc.aio.Channel, key: str | None, **fields: object
) -> grpc.aio.AioRpcError | None:
    try:
        await rpc.call(channel, rpc.request(**fields), key)
    except grpc.aio.AioRpcError as e:
        return e
    return None


@pytest.fixture
async def channel(gateway: RunningGateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.addr) as opened:
        yield opened


async def test_the_public_services_are_found_and_each_rpc_declares_its_scope(
    channel: grpc.aio.Channel,
) -> None:
    rpcs = await public_rpcs(channel)
    services = {r.method.containing_service.full_name for r in rpcs}
    assert {
        "layercake.gateway.v1.GatewayService",
        "layercake.gateway.v1.ProfilesService",
        "layercake.gateway.v1.DecisionsService",
    } <= services
    undeclared = [r.path for r in rpcs if r.path not in scopes.declared()]
    assert undeclared == [], "declare their scopes with services.gateway.api.scopes.declare"
    assert len(rpcs) >= 31


async def test_every_rpc_without_a_key_or_with_an_unknown_one_is_unauthenticated(
    channel: grpc.aio.Channel,
) -> None:
    wrong: list[tuple[str, str]] = []
    for rpc in await public_rpcs(channel):
        for key in (None, "lc_0123456789abcdef_unknownsecret"):
            error = await refusal(rpc, channel, key)
            if error is None or error.code() != grpc.StatusCode.UNAUTHENTICATED:
                wrong.append((rpc.name, error.code().name if error else "OK"))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_every_rpc_refuses_a_key_without_its_scope(
    gateway: RunningGateway, channel: grpc.aio.Channel
) -> None:
    keys: dict[Scope, str] = {}
    wrong: list[tuple[str, str]] = []
    for rpc in await public_rpcs(channel):
        needed = scopes.needed(rpc.path, rpc.request())
        if needed not in keys:  # every scope but the one needed
            keys[needed] = gateway.key(*(s.value for s in Scope if s != needed))
        error = await refusal(rpc, channel, keys[needed])
        if error is None or error.code() != DENIED or needed.value not in (error.details() or ""):
            wrong.append((rpc.name, error.code().name if error else "OK"))
    assert wrong == [], "\n".join(map(str, wrong))


@pytest.mark.parametrize(
    ("action", "scope"),
    [
        (asset_pb2.ASSET_ACTION_SUBMIT, Scope.ASSETS_WRITE),
        (asset_pb2.ASSET_ACTION_APPROVE, Scope.ASSETS_APPROVE),
        (asset_pb2.ASSET_ACTION_PUBLISH, Scope.ASSETS_OPERATE),
        (asset_pb2.ASSET_ACTION_ROLLBACK, Scope.ASSETS_OPERATE),
    ],
)
async def test_a_transition_needs_the_scope_of_its_action(
    gateway: RunningGateway, channel: grpc.aio.Channel, action: int, scope: Scope
) -> None:
    others = gateway.key(*(s.value for s in Scope if s != scope))
    transitions = [r for r in await public_rpcs(channel) if r.method.name.startswith("Transition")]
    assert transitions
    for rpc in transitions:
        error = await refusal(rpc, channel, others, action=action)
        assert error is not None and error.code() == DENIED, rpc.name
        assert scope.value in (error.details() or ""), rpc.name


async def test_every_rpc_over_the_keys_rate_is_resource_exhausted_with_retry_info(
    start_gateway: StartGateway,
) -> None:
    # one call a burst, refilled far slower than the test runs
    gateway = await start_gateway(GatewayConfig.model_construct(rate_limit=0.001, rate_burst=1.0))
    key = gateway.key()
    async with grpc.aio.insecure_channel(gateway.addr) as channel:
        rpcs = await public_rpcs(channel)
        [first] = [r for r in rpcs if r.method.name == "GetTrackingPlan"]
        await first.call(channel, first.request(), key)  # spends the burst
        wrong: list[tuple[str, str]] = []
        for rpc in rpcs:
            error = await refusal(rpc, channel, key)
            delay = retry_delay(error) if error is not None else None
            if error is None or error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or not delay:
                wrong.append((rpc.name, error.code().name if error else "OK"))
    assert wrong == [], "\n".join(map(str, wrong))
