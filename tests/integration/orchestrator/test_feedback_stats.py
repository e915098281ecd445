"""Channel feedback over real NATS into a running orchestrator: the send step's stats
count each kind of report on a send once, however often it is published, also when the
run that sent it was merged away into another profile's."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext

from layercake.channel.v1 import channel_pb2
from layercake.events.v1 import identity_events_pb2 as ie
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.protobuf import to_timestamp
from services.kernel.store.records import OutboxMessage
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
ANN, BOB = {"email": "ann@example.com"}, {"email": "bob@example.com"}
MAILER = """
journey: mailer
description: One mail, then a long wait.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: mail
    send: {channel: email, template: welcome}
    next: later
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


def report(tenant: str, send_id: str, kind: channel_pb2.FeedbackKind.ValueType) -> OutboxMessage:
    message = channel_pb2.Feedback(
        tenant_id=tenant,
        send_id=send_id,
        channel="email",
        profile_id="p-ann",
        kind=kind,
        occur_time=to_timestamp(datetime.now(UTC)),
    )
    return OutboxMessage(
        subject=f"layercake.{tenant}.channel.email.feedback",
        type=channel_pb2.Feedback.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
        tenant_id=tenant,
        source="channel-email",
    )


async def test_feedback_counts_once_per_send_and_kind_in_the_journey_stats(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    consent = {"email_marketing": True}
    directory.add(ProfileView(tenant, "p-ann", ANN, consent), "email:ann@example.com")
    app = functools.partial(build, directory=directory, decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, MAILER)
        await publish(js, ingested(tenant, "signed_up", "ann@example.com"))
        assert runtime.server is not None and runtime.context is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def sent() -> bool:
                counts = await stats_of(stub, tenant, "mailer")
                return counts.get(("mail", "sent")) == 1

            await eventually(sent, timeout=30)
            with runtime.context.uow() as uow:
                [entry] = uow.send_ledger.capping(tenant, "p-ann", EPOCH)
            kinds = channel_pb2.FeedbackKind
            for kind in (kinds.FEEDBACK_KIND_OPENED, kinds.FEEDBACK_KIND_OPENED):
                await publish(js, report(tenant, entry.send_id, kind))
            await publish(js, report(tenant, "send:unknown", kinds.FEEDBACK_KIND_CLICKED))
            await publish(js, report(tenant, entry.send_id, kinds.FEEDBACK_KIND_DELIVERED))

            async def delivered() -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "mailer")
                assert counts.get(("mail", "delivered")) == 1
                return counts

            stats = await eventually(delivered, timeout=30)
    assert stats[("mail", "opened")] == 1  # published twice, counted once
    assert ("mail", "clicked") not in stats  # on a send nobody made
    assert stats[("later", "waiting")] == 1  # the run did not move


async def test_feedback_on_a_merged_away_runs_send_counts_once_for_the_survivor(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    """Ann's run mails, then identity merges Ann into Bob: her send moves to Bob's ledger and
    her run becomes Bob's; the channel's reports on her mail still count, once each."""
    tenant = random_id("t")
    directory = FakeDirectory()
    consent = {"email_marketing": True}
    directory.add(ProfileView(tenant, "p-ann", ANN, consent), "email:ann@example.com")
    directory.add(ProfileView(tenant, "p-bob", BOB, consent), "email:bob@example.com")
    app = functools.partial(build, directory=directory, decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, MAILER)
        await publish(js, ingested(tenant, "signed_up", "ann@example.com"))
        assert runtime.server is not None and runtime.context is not None
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def counted(step: str, metric: str) -> dict[tuple[str, str], int]:
                counts = await stats_of(stub, tenant, "mailer")
                assert counts.get((step, metric)) == 1, counts
                return counts

            await eventually(functools.partial(counted, "mail", "sent"), timeout=30)
            with runtime.context.uow() as uow:
                [entry] = uow.send_ledger.capping(tenant, "p-ann", EPOCH)
            kinds = channel_pb2.FeedbackKind
            await publish(js, report(tenant, entry.send_id, kinds.FEEDBACK_KIND_DELIVERED))
            await eventually(functools.partial(counted, "mail", "delivered"), timeout=30)
            merged = ie.ProfilesMerged(
                tenant_id=tenant,
                survivor_profile_id="p-bob",
                merged_profile_ids=["p-ann"],
                version=2,
            )
            await publish(js, identity_event(tenant, "profiles_merged", merged))
            await eventually(functools.partial(counted, "", "entered:merge"), timeout=30)
            for kind in (kinds.FEEDBACK_KIND_DELIVERED, kinds.FEEDBACK_KIND_OPENED):
                await publish(js, report(tenant, entry.send_id, kind))
            await publish(js, report(tenant, entry.send_id, kinds.FEEDBACK_KIND_OPENED))
            await publish(js, report(tenant, entry.send_id, kinds.FEEDBACK_KIND_CLICKED))
            # reports are applied in order: once the last counts, the repeats were seen
            stats = await eventually(functools.partial(counted, "mail", "clicked"), timeout=30)
            with runtime.context.uow() as uow:
                moved = uow.send_ledger.get(tenant, entry.send_id)
    assert moved is not None and (moved.profile_id, moved.feedback) == ("p-bob", "clicked")
    assert stats[("mail", "delivered")] == 1  # reported before and after the merge
    assert stats[("mail", "opened")] == 1  # reported twice
    assert stats[("later", "waiting")] == 1  # Bob's run, continued, still waits
