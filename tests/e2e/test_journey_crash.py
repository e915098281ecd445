"""kill -9 of the orchestrator while journey waits are due: after a restart every wait
fires once, none lost, none twice (each fire sends, and the step counts say how often)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as ogrpc
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.rpc.signing import InternalCalls, SigningInterceptor
from services.local.stack import DEMO_TENANT
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.test_walking_skeleton import event
from tests.polling import eventually

pytestmark = pytest.mark.e2e

RUNS = 24
JOURNEY = """
journey: {id}
description: A wait, then a send, to be crashed in the middle of.
owner: qa
entry: {{api: {{}}}}
reentry: {{policy: never}}
steps:
  - id: pause
    wait: {{duration: 2s}}
    next: mail
  - id: mail
    send: {{channel: email, template: crash-hello}}
    next: done
  - id: done
    exit: {{}}
"""


def person(name: str, role: Role) -> Principal:
    return Principal(DEMO_TENANT, Actor(name, PrincipalKind.PERSON), frozenset({role}))


async def test_kill_9_orchestrator_mid_run_every_due_wait_fires_once(platform: Platform) -> None:
    stack = platform.stack
    internal = InternalCalls(stack.internal_secret().encode())
    journey = random_id("crash-")

    def stub(who: Principal) -> tuple[grpc.aio.Channel, ogrpc.OrchestratorServiceStub]:
        interceptor = SigningInterceptor(internal, lambda _: who)
        channel = grpc.aio.insecure_channel(stack.addr("orchestrator"), interceptors=[interceptor])
        return channel, ogrpc.OrchestratorServiceStub(channel)

    def rid() -> str:
        return str(uuid.uuid4())

    ann_ch, ann = stub(person("ann", Role.EDITOR))
    cat_ch, cat = stub(person("cat", Role.APPROVER))
    ops_ch, ops = stub(person("ops", Role.OPERATOR))
    try:
        yaml = JOURNEY.format(id=journey)
        await ann.ApplyJourney(opb.ApplyJourneyRequest(yaml=yaml, request_id=rid()), timeout=10)
        for who, action in (
            (ann, opb.ASSET_ACTION_SUBMIT),
            (cat, opb.ASSET_ACTION_APPROVE),
            (ops, opb.ASSET_ACTION_PUBLISH),
        ):
            request = opb.TransitionJourneyRequest(
                journey_id=journey, action=action, request_id=rid()
            )
            await who.TransitionJourney(request, timeout=10)

        cookies = [random_id("jc-") for _ in range(RUNS)]
        async with grpc.aio.insecure_channel(stack.addr("gateway")) as channel:
            gateway = ggrpc.GatewayServiceStub(channel)
            events = [event(c) for c in cookies]
            await gateway.Ingest(
                gpb.IngestRequest(events=events), metadata=platform.auth, timeout=10
            )

        async def enter(cookie: str) -> opb.EnterJourneyResponse:
            request = opb.EnterJourneyRequest(
                journey_id=journey, profile_ref=f"cookie_id:{cookie}", request_id=rid()
            )
            return await eventually(lambda: ops.EnterJourney(request, timeout=5), timeout=30)

        entries = await asyncio.gather(*(enter(c) for c in cookies))
        assert all(e.entered for e in entries)

        async def stats() -> dict[tuple[str, str], int]:
            request = opb.GetJourneyStatsRequest(journey_id=journey)
            reply = await ops.GetJourneyStats(request, timeout=5)
            return {(c.step_id, c.metric): c.count for c in reply.counts}

        async def first_sent() -> bool:
            return (await stats()).get(("mail", "sent"), 0) >= 1

        await eventually(first_sent, timeout=30)
        await asyncio.to_thread(stack.kill, "orchestrator")  # mid-run: most waits still due
        await asyncio.to_thread(stack.start_service, "orchestrator")

        async def all_done() -> dict[tuple[str, str], int]:
            counts = await stats()
            assert counts.get(("", "exited:completed")) == RUNS, counts
            return counts

        counts = await eventually(all_done, timeout=60)
        assert counts[("mail", "sent")] == RUNS  # each wait fired, and only once
        assert counts[("", "entered")] == RUNS and ("pause", "waiting") not in counts
    finally:
        for channel in (ann_ch, cat_ch, ops_ch):
            await channel.close()
