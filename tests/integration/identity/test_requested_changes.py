"""The orchestrator's requests through a real nats-server into identity's store: an
unsubscribe withdraws consent, an update_profile step sets a trait, and both are published
on to every follower as ProfileUpdated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf import message as pb_message
from google.protobuf import struct_pb2
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.events.v1 import identity_events_pb2, orchestrator_events_pb2
from layercake.orchestrator.v1 import send_pb2
from services.identity import handlers
from services.identity.consumers.requests import requested_changes_consumers
from services.identity.segments_cache import SegmentsCache
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.envelope import headers_for
from services.kernel.protobuf import to_timestamp
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.identity.test_ingest_to_profile import ANN, runner, send


async def request(js: JetStreamContext, tenant: str, event: str, body: pb_message.Message) -> None:
    record = OutboxMessage(
        subject=f"layercake.{tenant}.orchestrator.{event}",
        type=body.DESCRIPTOR.full_name,
        payload=body.SerializeToString(),
        tenant_id=tenant,
        event_id=str(uuid.uuid4()),
        source="orchestrator",
    )
    await js.publish(record.subject, record.payload, headers=headers_for(record, datetime.now(UTC)))


def consumers(
    js: JetStreamContext, db: Database, uow: UnitOfWorkFactory, tenant: str
) -> list[ConsumerRunner]:
    """The service's consumers, each narrowed to this test's tenant."""
    return [
        ConsumerRunner(
            ConsumerSpec(
                random_id("identity-requests-"),
                spec.stream,
                spec.filter_subject.replace("*", tenant, 1),
                spec.handler,
            ),
            js,
            db,
            uow,
            max_deliver=2,
            retry_delay=0.05,
        )
        for spec in requested_changes_consumers(SegmentsCache())
    ]


async def test_unsubscribe_and_journey_update_reach_the_profile(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    await runner(js, identity_db, identity_uow, tenant).run_once()
    with identity_uow() as u:
        profile_id = handlers.get_profile(u, tenant, "email:ann@example.com").profile_id
    later = to_timestamp(datetime(2026, 3, 2, tzinfo=UTC))
    await request(
        js,
        tenant,
        "consent_withdrawn",
        send_pb2.ConsentWithdrawn(
            tenant_id=tenant,
            profile_id=profile_id,
            purpose="email_marketing",
            channel="email",
            send_id="s-1",
            reason="unsubscribed",
            occur_time=later,
        ),
    )
    traits = struct_pb2.Struct()
    traits.update({"tier": "gold"})
    await request(
        js,
        tenant,
        "profile_update_requested",
        orchestrator_events_pb2.ProfileUpdateRequested(
            tenant_id=tenant,
            profile_id=profile_id,
            traits=traits,
            journey_id="welcome",
            journey_version=1,
            step_id="tag",
            request_time=later,
        ),
    )
    outcomes = []
    for consumer in consumers(js, identity_db, identity_uow, tenant):
        outcomes += [r.outcome for r in await consumer.run_once()]
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]

    with identity_uow() as u:
        profile = handlers.get_profile(u, tenant, profile_id)
        payloads = u.session.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars().all()
    assert profile.consent == {"email_marketing": False}
    assert profile.consent_source["email_marketing"] == "email:unsubscribed"
    assert profile.traits["tier"].json_value == '"gold"'
    *_, withdrawn, tagged = (identity_events_pb2.ProfileUpdated.FromString(p) for p in payloads)
    assert dict(withdrawn.consent) == {"email_marketing": False}
    assert tagged.traits["tier"].json_value == '"gold"'
