"""Raw events through a real nats-server and the identity consumer into profiles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import json_format
from grpc_status import rpc_status
from nats.js import JetStreamContext
from sqlalchemy import func, select

from layercake.events.v1 import identity_events_pb2, ingest_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers
from services.identity.api.servicer import identity_servicer
from services.identity.consumers.ingest import ingest_consumer
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.tables import profiles
from services.kernel.errors import NotFound
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.messaging.envelope import headers_for
from services.kernel.protobuf import to_timestamp
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.projections import replay
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import events, outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.signing import INTERNAL, signed_channel


async def send(
    js: JetStreamContext, tenant: str, event: dict[str, object], event_id: str | None = None
) -> str:
    message = ingest_pb2.EventIngested(
        tenant_id=tenant,
        event=json_format.ParseDict(event, ingest_pb2.IngestEvent()),
        receive_time=to_timestamp(datetime.now(UTC)),
    )
    record = OutboxMessage(
        subject=f"layercake.{tenant}.ingest",
        type="layercake.events.v1.EventIngested",
        payload=message.SerializeToString(),
        tenant_id=tenant,
        event_id=event_id or str(uuid.uuid4()),
        source="gateway",
    )
    headers = headers_for(record, datetime.now(UTC))
    headers["Nats-Msg-Id"] = str(uuid.uuid4())  # a fresh publish, as after the dedupe window
    await js.publish(record.subject, record.payload, headers=headers)
    return record.event_id


def runner(
    js: JetStreamContext, db: Database, uow: UnitOfWorkFactory, tenant: str
) -> ConsumerRunner:
    spec = ingest_consumer(
        RulesCache(),
        SegmentsCache(),
        durable=random_id("identity-"),
        filter_subject=f"layercake.{tenant}.ingest",
    )
    return ConsumerRunner(spec, js, db, uow, max_deliver=2, retry_delay=0.05)


ANN = {
    "message_id": "m-1",
    "type": "identify",
    "timestamp": "2026-03-01T12:00:00Z",
    "identifiers": {"cookie_id": "ck-81", "email": "Ann@Example.com"},
    "traits": {"first_name": "Ann", "store_id": "s-12", "visits": 3},
    "consent": {"email_marketing": True},
    "context": {"channel": "mobile_app", "timezone": "America/Chicago"},
}


async def test_event_creates_profile_and_publishes_profile_updated(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    results = await runner(js, identity_db, identity_uow, tenant).run_once()
    assert [r.outcome for r in results] == [Outcome.APPLIED]

    with identity_uow() as u:
        profile = handlers.get_profile(u, tenant, "email:ann@example.com")
        rows = u.session.execute(select(outbox)).all()
    assert profile.traits["first_name"].json_value == '"Ann"'
    assert profile.traits["visits"].json_value == "3"
    assert profile.consent == {"email_marketing": True}
    assert profile.traits["timezone"].json_value == '"America/Chicago"'
    assert {i.type for i in profile.identifiers} == {"cookie_id", "email"}
    assert all(i.value != "ann@example.com" for i in profile.identifiers)  # hashed
    assert len(rows) == 1 and rows[0].subject == f"layercake.{tenant}.identity.profile_updated"
    update = identity_events_pb2.ProfileUpdated.FromString(rows[0].payload)
    assert (update.tenant_id, update.profile_id) == (tenant, profile.profile_id)
    assert update.version == profile.version and update.identifier_count == 2
    assert {i.type for i in update.linked_identifiers} == {"cookie_id", "email"}
    assert dict(update.consent) == {"email_marketing": True}
    assert set(update.traits) | set(update.sealed_traits) == {
        "first_name",
        "store_id",
        "visits",
        "timezone",
    }
    # personal traits leave identity only sealed: the IDENTITY stream never holds them in clear
    assert "first_name" not in update.traits and b"Ann" not in rows[0].payload
    assert set(update.sealed_traits) == {"first_name"}
    assert update.traits["store_id"].json_value == '"s-12"'


async def test_redelivery_is_a_no_op_and_known_identifier_joins(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    event_id = await send(js, tenant, ANN)
    await send(js, tenant, ANN, event_id=event_id)  # same ce-id again
    later = ANN | {
        "message_id": "m-2",
        "identifiers": {"cookie_id": "ck-81", "device_id": "dv-9"},
        "traits": {"store_id": "s-99"},
        "timestamp": "2026-03-02T00:00:00Z",
    }
    await send(js, tenant, later)
    consumer = runner(js, identity_db, identity_uow, tenant)
    outcomes = []
    while len(outcomes) < 3:
        outcomes += [r.outcome for r in await consumer.run_once()]
    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.APPLIED]
    with identity_uow() as u:
        by_device = handlers.get_profile(u, tenant, "device_id:dv-9")
        by_email = handlers.get_profile(u, tenant, "email:ann@example.com")
        streams = u.session.execute(
            select(func.count(func.distinct(outbox.c.subject_ref)))
        ).scalar_one()
        payloads = u.session.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars().all()
    assert by_device.profile_id == by_email.profile_id
    assert by_device.traits["store_id"].json_value == '"s-99"'
    assert streams == 1
    # the second update carries what it changed, not the profile the first one built
    first, second = (identity_events_pb2.ProfileUpdated.FromString(p) for p in payloads)
    assert set(second.traits) == {"store_id"} and not second.sealed_traits
    assert [i.type for i in second.linked_identifiers] == ["device_id"]
    assert second.identifier_count == 3
    assert dict(second.consent) == {"email_marketing": True}  # the decision, made again later
    assert second.version > first.version


async def test_replay_rebuilds_the_read_model(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    await runner(js, identity_db, identity_uow, tenant).run_once()
    with identity_uow() as u:
        before = handlers.get_profile(u, tenant, "cookie_id:ck-81")
    with identity_db.transaction() as s:
        assert replay(s, [ProfileProjection(identity_keys)]) == before.version
    with identity_uow() as u:
        after = handlers.get_profile(u, tenant, "cookie_id:ck-81")
        assert after == before
        with pytest.raises(NotFound):
            handlers.get_profile(u, random_id("other"), "cookie_id:ck-81")  # tenant isolation


async def test_get_profile_rpc_validates_and_finds(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    await runner(js, identity_db, identity_uow, tenant).run_once()
    server = create_server(
        "127.0.0.1:0",
        [identity_servicer(ServiceLayer(identity_db, identity_uow))],
        internal=INTERNAL,
    )
    await server.server.start()
    try:
        async with signed_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.IdentityServiceStub(channel)
            found = await stub.GetProfile(
                pb.GetProfileRequest(tenant_id=tenant, profile_ref="email:ANN@example.com"),
                timeout=5,
            )
            assert found.profile.traits["first_name"].json_value == '"Ann"'
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.GetProfile(pb.GetProfileRequest(tenant_id="Bad Tenant"), timeout=5)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = rpc_status.from_call(bad.value)  # type: ignore[arg-type]
            assert status is not None
            assert "tenant_id" in str(status.details) and "profile_ref" in str(status.details)
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.GetProfile(
                    pb.GetProfileRequest(tenant_id=tenant, profile_ref="cookie_id:nobody"),
                    timeout=5,
                )
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.server.stop(None)


async def test_trait_values_are_sealed_and_deleting_the_key_forgets_them(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    await runner(js, identity_db, identity_uow, tenant).run_once()
    with identity_uow() as u:
        payloads = u.session.execute(select(events.c.payload).where(events.c.tenant_id == tenant))
        assert not any(b"Ann" in p or b"s-12" in p for (p,) in payloads)
        read_model = u.session.execute(select(profiles.c.traits)).scalars().all()
        assert read_model and not any("Ann" in t for t in read_model)  # sealed, not in clear
        profile = handlers.get_profile(u, tenant, "cookie_id:ck-81")
        assert profile.traits["first_name"].json_value == '"Ann"'  # opened on read
    assert identity_keys.delete_keys(tenant, [profile.profile_id]) == 1
    with identity_db.transaction() as s:
        replay(s, [ProfileProjection(identity_keys)])
    with identity_uow() as u:
        forgotten = handlers.get_profile(u, tenant, "cookie_id:ck-81")
    assert "first_name" not in forgotten.traits
