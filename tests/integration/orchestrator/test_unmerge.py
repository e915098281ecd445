"""Identity's merge and unmerge, followed by a running orchestrator over real NATS: a run
merged into the wrong person goes back with the profile its entry event belongs to, and
waits there (the one-send rule is held in tests/unit/orchestrator/test_unmerge.py).
Identity is its contract fake."""

from __future__ import annotations

import functools
from pathlib import Path

from nats.js import JetStreamContext

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.events.v1 import ingest_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import (
    identity_event,
    ingested,
    publish_journey,
    stats_of,
)
from tests.orchestrator_fakes import FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

LATER = """
journey: later-hello
description: Says hello an hour after someone signs up.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: later
    wait: {duration: 1h}
    next: hello
  - id: hello
    send: {channel: email, template: hello}
    next: done
  - id: done
    exit: {}
"""


async def test_an_unmerge_sends_the_run_back_with_its_entry_event(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    consent = {"email_marketing": True}
    for who in ("ann", "bob", "bob2"):
        directory.add(
            ProfileView(tenant, f"p-{who}", {"email": f"{who}@example.com"}, consent),
            f"email:{who}@example.com",
        )
    app = functools.partial(build, directory=directory)
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, LATER)
        signup = ingested(tenant, "signed_up", "bob@example.com")
        message_id = ingest_pb2.EventIngested.FromString(signup.payload).event.message_id
        await publish(js, signup)
        assert runtime.server is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def counted(metric: str) -> bool:
                return (await stats_of(stub, tenant, "later-hello")).get(("", metric)) == 1

            await eventually(functools.partial(counted, "entered:event"), timeout=30)
            merged = ie.ProfilesMerged(
                tenant_id=tenant,
                survivor_profile_id="p-ann",
                merged_profile_ids=["p-bob"],
                version=2,
            )
            await publish(js, identity_event(tenant, "profiles_merged", merged))
            await eventually(functools.partial(counted, "entered:merge"), timeout=30)
            directory.events = {"p-ann": set(), "p-bob2": {message_id}}
            split = ie.ProfileUnmerged(
                tenant_id=tenant, profile_id="p-ann", new_profile_ids=["p-bob2"], version=3
            )
            await publish(js, identity_event(tenant, "profile_unmerged", split))
            await eventually(functools.partial(counted, "entered:unmerge"), timeout=30)
            counts = await stats_of(stub, tenant, "later-hello")
            assert runtime.context is not None
            with runtime.context.uow() as uow:
                records = {
                    r.profile_id: (r.active, r.exit_reason)
                    for p in ("p-bob", "p-ann", "p-bob2")
                    for r in uow.instance_records.of_profile(tenant, p)
                }
    assert records == {
        "p-bob": (False, "merged"),
        "p-ann": (False, "unmerged"),
        "p-bob2": (True, ""),
    }
    assert counts[("", "entered")] == 3 and counts[("later", "waiting")] == 1
