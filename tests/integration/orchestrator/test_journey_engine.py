"""The journey engine in a running orchestrator: real NATS, SQLite, the kernel's timer
scheduler and outbox relay; identity and decision are their contract fakes."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import struct_pb2
from nats.js import JetStreamContext

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.events.v1 import orchestrator_events_pb2 as oe
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from layercake.orchestrator.v1.send_pb2 import SendRequested
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from services.orchestrator.domain.frequency_caps import SendState
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import (
    identity_event,
    ingested,
    messages,
    publish_journey,
    stats_of,
)
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

ONBOARDING = (Path(__file__).parent / "journeys" / "onboarding.yaml").read_text()
EPOCH = datetime.min.replace(tzinfo=UTC)
VIP = """
journey: vip-care
description: Waits a day after someone joins the vip audience.
owner: growth-team
entry: {audience: vip}
steps:
  - id: later
    wait: {duration: 1d}
    next: hello
  - id: hello
    send: {channel: email, template: vip-hello}
    next: done
  - id: done
    exit: {}
"""


async def test_a_journey_using_every_step_type_runs_over_real_nats(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory, decider = FakeDirectory(), FakeDecider()
    decider.action = "tips"
    consent = {"email_marketing": True}
    ann = directory.add(
        ProfileView(tenant, "p-ann", {"tier": "gold", "email": "ann@example.com"}, consent),
        "email:ann@example.com",
    )
    directory.add(ProfileView(tenant, "p-bob"), "email:bob@example.com")
    # known by an identifier, but identity holds no email trait to mail her at
    directory.add(ProfileView(tenant, "p-cy", {"tier": "gold"}, consent), "email:cy@example.com")
    app = functools.partial(build, directory=directory, decider=decider)
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, ONBOARDING)
        await publish(js, ingested(tenant, "signed_up", "ann@example.com", plan="pro"))
        await publish(js, ingested(tenant, "signed_up", "bob@example.com", plan="test"))
        await publish(js, ingested(tenant, "signed_up", "cy@example.com", plan="pro"))
        await publish(js, ingested(tenant, "page_viewed", "ann@example.com"))
        assert runtime.server is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def finished() -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "onboarding")
                assert counts.get(("", "exited:completed")) == 2
                return counts

            stats = await eventually(finished, timeout=30)
            assert runtime.context is not None
            with runtime.context.uow() as uow:  # what the send service recorded
                [entry] = uow.send_ledger.capping(tenant, ann.profile_id, EPOCH)
                [unsent] = uow.send_ledger.capping(tenant, "p-cy", EPOCH)
            # identity's audience and forget events, over its stream
            publish_journey(runtime, tenant, VIP)
            joined = ie.AudienceEntered(
                tenant_id=tenant,
                profile_id="p-ann",
                audience_id="vip",
                audience_version=1,
                version=2,
            )
            await publish(js, identity_event(tenant, "audience_entered", joined))

            async def waiting() -> bool:
                counts = await stats_of(stub, tenant, "vip-care")
                return counts.get(("later", "waiting")) == 1

            await eventually(waiting, timeout=30)
            forgotten = ie.ProfileForgotten(tenant_id=tenant, profile_id="p-ann", version=3)
            await publish(js, identity_event(tenant, "profile_forgotten", forgotten))

            async def gone() -> bool:
                counts = await stats_of(stub, tenant, "vip-care")
                return (
                    counts.get(("", "exited:forgotten")) == 1 and ("later", "waiting") not in counts
                )

            await eventually(gone, timeout=30)
            with runtime.context.uow() as uow:  # forgotten: the send service erased it
                assert uow.send_ledger.capping(tenant, ann.profile_id, EPOCH) == []
    # one send requested of the send service (its renderer then suppresses it: this test
    # publishes no template)
    assert (entry.journey_id, entry.step_id) == ("onboarding", "mail")
    assert stats[("", "entered")] == 2 and stats[("mail", "sent")] == 1
    assert ("mail", "waiting") not in stats and decider.calls == 2
    # Cy's send stopped at its guard: suppressed, recorded, and never requested of the renderer
    assert stats[("mail", "suppressed:no_address")] == 1
    assert unsent.state is SendState.SUPPRESSED and (unsent.journey_id, unsent.step_id) == (
        "onboarding",
        "mail",
    )
    assert unsent.reason == "no_address: no email for channel email"
    send_subject = f"layercake.{tenant}.orchestrator.send_requested"
    requested = await messages(js, "ORCHESTRATOR", send_subject)
    assert [SendRequested.FromString(m).profile_id for m in requested] == ["p-ann"]
    subject = f"layercake.{tenant}.orchestrator.profile_update_requested"
    updates = await messages(js, "ORCHESTRATOR", subject)
    [update] = [
        u for u in map(oe.ProfileUpdateRequested.FromString, updates) if u.profile_id == "p-ann"
    ]
    assert update.profile_id == "p-ann" and update.traits["onboarded"] is True
    assert isinstance(update.traits, struct_pb2.Struct)
