"""Forgetting a person whose events share a batch message with other people's: their events
leave INGEST (no byte of them is kept), the others' are written again, still fed to their
profiles (a later forget of them erases the new message), and applied once by every
consumer, even one that had not read the old message yet."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from layercake.events.v1 import ingest_pb2
from services.gateway.adapters.ingest_log import JetStreamIngestLog
from services.identity import forgetting
from services.identity.rules_cache import RulesCache
from services.identity.stream_eraser import StreamEraser
from services.kernel.messaging.batch import open_envelopes
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.principals import Actor, Principal, PrincipalKind, Role
from services.kernel.protobuf import to_timestamp
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import consume
from tests.integration.identity.test_forget import consumer, person

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def ingested(tenant: str, event: dict[str, object]) -> OutboxMessage:
    body = ingest_pb2.EventIngested(
        tenant_id=tenant,
        event=json_format.ParseDict(event, ingest_pb2.IngestEvent()),
        receive_time=to_timestamp(AT),
    )
    return OutboxMessage(
        subject=f"layercake.{tenant}.ingest",
        type="layercake.events.v1.EventIngested",
        payload=body.SerializeToString(),
        tenant_id=tenant,
        event_id=random_id("e-"),
        source="gateway",
        created_time=AT,
    )


def admin(tenant: str) -> Principal:
    return Principal(tenant, Actor("ops", PrincipalKind.PERSON), frozenset({Role.ADMIN}))


async def stored(js: JetStreamContext, sequence: int) -> bytes | None:
    try:
        return (await js.get_msg("INGEST", sequence)).data or b""
    except NotFoundError:
        return None


async def test_a_forgotten_persons_events_leave_a_shared_batch_and_the_others_stay(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    ann = [ingested(tenant, person(f"ck-a{i}", email="zelda@example.com")) for i in range(2)]
    bob = ingested(tenant, person("ck-b", email="bob@example.com", first_name="Bobbin"))
    sequence = await JetStreamIngestLog(js, 5.0).append([ann[0], bob, ann[1]])
    identity = consumer(js, identity_db, identity_uow, tenant)
    assert [r.outcome for r in await consume(identity, 1)] == [Outcome.APPLIED]
    late = ConsumerRunner(  # another service's consumer, behind: it has read nothing yet
        ConsumerSpec(random_id("late-"), "INGEST", f"layercake.{tenant}.ingest", lambda u, e: None),
        js,
        identity_db,
        identity_uow,
    )
    await late.subscribe()

    layer = ServiceLayer(identity_db, identity_uow)
    rules = RulesCache()
    eraser = StreamEraser(js, layer, every=60, rules=rules)
    await layer.run(forgetting.forget_profile, admin(tenant), "email:zelda@example.com", "r-1")
    assert await eraser.erase_pending() == 1

    assert await stored(js, sequence) is None
    last = (await js.stream_info("INGEST")).state.last_seq
    rewritten = await stored(js, last)
    assert rewritten is not None and b"zelda" not in rewritten and b"Bobbin" in rewritten
    msg = await js.get_msg("INGEST", last)
    kept = open_envelopes(msg.subject or "", msg.headers, msg.data or b"")
    assert [e.event_id for e in kept] == [bob.event_id]

    # identity had applied Bob's event: the new copy is a duplicate to it; the late
    # consumer applies it once, from the new message
    assert [r.outcome for r in await consume(identity, 1)] == [Outcome.DUPLICATE]
    assert [r.outcome for r in await consume(late, 1)] == [Outcome.APPLIED]

    # Bob's profile is fed by the new message now: forgetting him erases it
    await layer.run(forgetting.forget_profile, admin(tenant), "email:bob@example.com", "r-2")
    assert await eraser.erase_pending() == 1
    assert await stored(js, last) is None
    await identity.close()
    await late.close()
