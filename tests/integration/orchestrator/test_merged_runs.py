"""Identity merges two people who are both inside a journey, over real NATS into a running
orchestrator on its SQL store: one run goes on, and the mail the merged-away run already
sent is not sent again by the survivor's."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext

from layercake.events.v1 import identity_events_pb2 as ie
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
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

EPOCH = datetime.min.replace(tzinfo=UTC)
OPENER = """
journey: opener
description: Waits for the app to be opened, then one mail, then a long wait.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: hold
    wait_for_event: {event: app_opened, timeout: 1d}
    on_event: mail
    on_timeout: done
  - id: mail
    send: {channel: email, template: welcome}
    next: later
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


async def test_a_merge_of_two_people_inside_a_journey_leaves_one_run_and_one_mail(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    """Ann opened the app and was mailed; Bob still waits for his opening. Identity merges
    Ann into Bob: her run ends as merged, his goes on, and when he opens the app his mail
    step counts her mail as his (suppressed, already sent) instead of mailing again."""
    tenant = random_id("t")
    directory = FakeDirectory()
    consent = {"email_marketing": True}
    for name in ("ann", "bob"):
        traits = {"email": f"{name}@example.com"}
        directory.add(ProfileView(tenant, f"p-{name}", traits, consent), f"email:{traits['email']}")
    app = functools.partial(build, directory=directory, decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, OPENER)
        assert runtime.server is not None and runtime.context is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def counted(expected: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "opener")
                assert {k: counts.get(k) for k in expected} == expected, counts
                return counts

            for name in ("ann", "bob"):
                await publish(js, ingested(tenant, "signed_up", f"{name}@example.com"))
            await eventually(functools.partial(counted, {("hold", "waiting"): 2}), timeout=30)
            await publish(js, ingested(tenant, "app_opened", "ann@example.com"))
            await eventually(
                functools.partial(counted, {("mail", "sent"): 1, ("later", "waiting"): 1}),
                timeout=30,
            )

            merged = ie.ProfilesMerged(
                tenant_id=tenant,
                survivor_profile_id="p-bob",
                merged_profile_ids=["p-ann"],
                version=2,
            )
            await publish(js, identity_event(tenant, "profiles_merged", merged))
            directory.refs["email:ann@example.com"] = "p-bob"  # as identity now resolves her
            await eventually(functools.partial(counted, {("", "exited:merged"): 1}), timeout=30)
            await publish(js, ingested(tenant, "app_opened", "bob@example.com"))
            stats = await eventually(
                functools.partial(counted, {("mail", "suppressed:already_sent"): 1}), timeout=30
            )
            with runtime.context.uow() as uow:
                sends = [uow.send_ledger.capping(tenant, p, EPOCH) for p in ("p-ann", "p-bob")]
                ann = uow.instance_records.of_profile(tenant, "p-ann")
                bob = uow.instance_records.of_profile(tenant, "p-bob")
    assert stats[("mail", "sent")] == 1  # Ann's, before the merge; none for Bob
    assert stats[("later", "waiting")] == 1  # one run goes on: Bob's
    assert ("hold", "waiting") not in stats
    assert [len(s) for s in sends] == [0, 1]  # her mail now counts as his
    assert [r.active for r in ann] == [False] and [r.active for r in bob] == [True]
