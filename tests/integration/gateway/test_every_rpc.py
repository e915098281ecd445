"""Every RPC of every public gateway service, found through reflection (so a service added
later is covered without naming it here), is closed at the door: no key is UNAUTHENTICATED,
a key without the RPC's scope is PERMISSION_DENIED, a key over its rate is
RESOURCE_EXHAUSTED with RetryInfo. Malformed and cross-tenant requests, which need the real
services behind the door, are in `test_public_services.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.gateway.api import scopes
from services.gateway.config import GatewayConfig
from services.kernel.assets.lifecycle import ACTION_SCOPES, Action
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
        needed = scopes.needed(rpc.path)
        if needed not in keys:  # every scope but the one needed
            keys[needed] = gateway.key(*(s.value for s in Scope if s != needed))
        error = await refusal(rpc, channel, keys[needed])
        if error is None or error.code() != DENIED or needed.value not in (error.details() or ""):
            wrong.append((rpc.name, error.code().name if error else "OK"))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_each_lifecycle_action_is_an_rpc_of_its_own_with_its_actions_scope(
    gateway: RunningGateway, channel: grpc.aio.Channel
) -> None:
    """`Submit<Noun>` needs `assets:write`, `Approve<Noun>` `assets:approve`, `Publish<Noun>`
    `assets:operate`..., whatever the noun; no RPC takes the action as a field."""
    verbs = {a.value.capitalize(): ACTION_SCOPES[a] for a in Action if a is not Action.EDIT}
    rpcs = await public_rpcs(channel)
    moves = [
        (r, v, scope) for r in rpcs for v, scope in verbs.items() if r.method.name.startswith(v)
    ]
    nouns = {r.method.name.removeprefix(verb) for r, verb, _ in moves}
    assert {"Journey", "Template", "Audience", "CatalogAsset"} <= nouns
    assert [r.name for r in rpcs if r.method.name.startswith("Transition")] == []
    for rpc, _, scope in moves:
        assert scopes.needed(rpc.path) == scope, rpc.name
        others = gateway.key(*(s.value for s in Scope if s != scope))
        error = await refusal(rpc, channel, others)
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
