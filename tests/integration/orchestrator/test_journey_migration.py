"""MigrateJourneyRuns over gRPC in a running orchestrator: the dry run's counts are what
then moves; a bad map is INVALID_ARGUMENT naming the step and moves nothing."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running, violations
from tests.integration.orchestrator.journey_support import ingested, publish_journey, stats_of
from tests.orchestrator_fakes import FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

V1 = """
journey: nudge
description: Waits an hour, then nudges.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: pause
    wait: {duration: 1h}
    next: mail
  - id: mail
    send: {channel: email, template: nudge}
    next: done
  - id: done
    exit: {}
"""
V2 = V1.replace("id: pause", "id: pause-2").replace("template: nudge", "template: nudge-2")


async def test_a_dry_run_counts_what_the_migration_then_moves(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    for i in range(3):
        directory.add(ProfileView(tenant, f"p-{i}"), f"email:p{i}@example.com")
    app = functools.partial(build, directory=directory)
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, V1)
        for i in range(3):
            await publish(js, ingested(tenant, "signed_up", f"p{i}@example.com"))
        assert runtime.server is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def all_waiting() -> bool:
                counts = await stats_of(stub, tenant, "nudge")
                return counts.get(("pause", "waiting")) == 3

            await eventually(all_waiting, timeout=30)
            publish_journey(runtime, tenant, V2)

            async def migrate(
                step_map: dict[str, str], dry_run: bool
            ) -> list[tuple[str, str, int]]:
                request = pb.MigrateJourneyRunsRequest(
                    tenant_id=tenant,
                    journey_id="nudge",
                    from_version=1,
                    to_version=2,
                    step_map=step_map,
                    dry_run=dry_run,
                    request_id=str(uuid.uuid4()),
                )
                reply = await stub.MigrateJourneyRuns(request, timeout=10)
                return [(m.from_step_id, m.to_step_id, m.count) for m in reply.moves]

            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await migrate({"pause": "nowhere"}, dry_run=False)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert violations(bad.value) == ["step_map.pause"]
            dry = await migrate({"pause": "pause-2"}, dry_run=True)
            assert dry == [("pause", "pause-2", 3)]
            assert await migrate({"pause": "pause-2"}, dry_run=False) == dry
            counts = await stats_of(stub, tenant, "nudge")
    assert counts[("pause-2", "waiting")] == 3 and ("pause", "waiting") not in counts
    assert counts[("", "migrated_in")] == counts[("", "migrated_out")] == 3
