"""What the journey engine's integration tests share: publishing a journey in a running
orchestrator's store, ingest and identity events as NATS messages, reading streams back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from nats.js import JetStreamContext

from layercake.events.v1 import ingest_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.assets import Action
from services.kernel.messaging import subjects
from services.kernel.principals import Role
from services.kernel.protobuf import to_timestamp
from services.kernel.runtime import Runtime
from services.kernel.store.records import OutboxMessage
from services.orchestrator import definitions
from services.orchestrator.domain.journeys import read_journey
from services.orchestrator.domain.kinds import JOURNEY
from services.orchestrator.mapping import EVENT_INGESTED
from tests.conftest import random_id
from tests.contracts.asset_harness import person


def publish_journey(runtime: Runtime, tenant: str, yaml_text: str) -> None:
    """Saves, submits, approves and publishes the journey, four-eyes, in the service's store."""
    assert runtime.context is not None
    publish_journey_in(runtime.context.uow, tenant, yaml_text)


def publish_journey_in(units: Callable[[], Any], tenant: str, yaml_text: str) -> None:
    """`publish_journey` with the store's units of work."""
    ann = person("ann", Role.EDITOR, tenant=tenant)
    cat = person("cat", Role.APPROVER, tenant=tenant)
    ops = person("ops", Role.OPERATOR, tenant=tenant)
    content, metadata = read_journey(yaml_text)
    with units() as uow:
        definitions.apply_definition(uow, ann, JOURNEY, content.journey_id, content, metadata)
    for who, action in ((ann, Action.SUBMIT), (cat, Action.APPROVE), (ops, Action.PUBLISH)):
        with units() as uow:
            definitions.transition_definition(uow, who, JOURNEY, content.journey_id, action)


def ingested(tenant: str, name: str, email: str, **properties: object) -> OutboxMessage:
    event = ingest_pb2.IngestEvent(
        message_id=random_id("m-"),
        type="track",
        event=name,
        timestamp=to_timestamp(datetime.now(UTC)),
    )
    event.identifiers.update({"email": email})
    event.properties.update(properties)
    message = ingest_pb2.EventIngested(
        tenant_id=tenant, event=event, receive_time=to_timestamp(datetime.now(UTC))
    )
    return OutboxMessage(
        subject=subjects.ingest(tenant),
        type=EVENT_INGESTED,
        payload=message.SerializeToString(),
        tenant_id=tenant,
        source="gateway",
    )


def identity_event(tenant: str, event: str, message: Message) -> OutboxMessage:
    return OutboxMessage(
        subject=subjects.integration(tenant, "identity", event),
        type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
        tenant_id=tenant,
        source="identity",
    )


async def stats_of(
    stub: pb_grpc.OrchestratorServiceStub, tenant: str, journey: str
) -> dict[tuple[str, str], int]:
    request = pb.GetJourneyStatsRequest(tenant_id=tenant, journey_id=journey)
    response = await stub.GetJourneyStats(request, timeout=5)
    return {(c.step_id, c.metric): c.count for c in response.counts}


async def messages(js: JetStreamContext, stream: str, subject: str) -> list[bytes]:
    """Every message of `subject` so far (an ephemeral consumer from the start)."""
    sub = await js.pull_subscribe(subject, stream=stream)
    found: list[bytes] = []
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                return found
            found += [m.data for m in batch]
    finally:
        await sub.unsubscribe()
