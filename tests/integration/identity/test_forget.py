"""ForgetProfile against a real nats-server and SQLite/PostgreSQL: the keys, read models
and raw INGEST messages of the person (and of the profiles merged into them) go; a later
event carrying their identifiers is suppressed, neither retried nor dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select

from layercake.events.v1 import identity_events_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers
from services.identity.api.servicer import identity_servicer
from services.identity.consumers.ingest import ingest_consumer
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.tables import suppressed_messages
from services.identity.stream_eraser import StreamEraser
from services.kernel.errors import NotFound
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.principals import Role
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import consume
from tests.integration.identity.test_ingest_to_profile import send
from tests.signing import INTERNAL, signed_channel

ADMIN = frozenset({Role.ADMIN})


def person(cookie: str, email: str = "Ann@Example.com", **traits: object) -> dict[str, object]:
    return {
        "message_id": random_id("m-"),
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": cookie, "email": email},
        "traits": {"first_name": "Ann"} | traits,
    }


def consumer(
    js: JetStreamContext, db: Database, uow: UnitOfWorkFactory, tenant: str, suppress: bool = True
) -> ConsumerRunner:
    spec = ingest_consumer(
        RulesCache(),
        SegmentsCache(),
        suppress,
        durable=random_id("identity-"),
        filter_subject=f"layercake.{tenant}.ingest",
    )
    return ConsumerRunner(spec, js, db, uow, max_deliver=2, retry_delay=0.05)


@asynccontextmanager
async def identity_stub(
    js: JetStreamContext, db: Database, uow: UnitOfWorkFactory, roles: frozenset[Role] = ADMIN
) -> AsyncIterator[pb_grpc.IdentityServiceStub]:
    layer = ServiceLayer(db, uow)
    eraser = StreamEraser(js, layer, every=60, rules=RulesCache())
    server = create_server("127.0.0.1:0", [identity_servicer(layer, eraser)], internal=INTERNAL)
    await server.server.start()
    try:
        async with signed_channel(f"127.0.0.1:{server.port}", roles=roles) as channel:
            yield pb_grpc.IdentityServiceStub(channel)
    finally:
        await server.server.stop(None)


def forget(tenant: str, ref: str) -> pb.ForgetProfileRequest:
    return pb.ForgetProfileRequest(tenant_id=tenant, profile_ref=ref, request_id=str(uuid.uuid4()))


async def stored(js: JetStreamContext, sequence: int) -> bool:
    try:
        await js.get_msg("INGEST", sequence)
    except NotFoundError:
        return False
    return True


async def test_forgetting_erases_the_person_and_a_later_event_is_suppressed(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    runner = consumer(js, identity_db, identity_uow, tenant)
    await send(js, tenant, person("ck-1", email="other@example.com"))  # someone else
    await send(js, tenant, person("ck-2", email="ann@example.com"))
    await send(js, tenant, person("ck-3", email="ann@example.com"))  # merges nothing: joins
    await send(js, tenant, person("ck-4", email="  ANN@example.com "))
    assert {r.outcome for r in await consume(runner, 4)} == {Outcome.APPLIED}
    info = await js.stream_info("INGEST")
    with identity_uow() as u:
        ann = handlers.get_profile(u, tenant, "email:ann@example.com")
    async with identity_stub(js, identity_db, identity_uow) as stub:
        request = forget(tenant, "cookie_id:ck-3")
        answer = await stub.ForgetProfile(request, timeout=10)
        assert await stub.ForgetProfile(request, timeout=10) == answer  # a retry: same answer
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await stub.ForgetProfile(forget(tenant, f"{ann.profile_id}"), timeout=10)
        assert again.value.code() == grpc.StatusCode.NOT_FOUND
    assert answer.profile_id == ann.profile_id

    last = info.state.last_seq
    assert [await stored(js, s) for s in range(last - 3, last + 1)] == [True, False, False, False]
    assert identity_keys.cipher(tenant, ann.profile_id) is None
    with identity_uow() as u:
        for ref in ("email:ann@example.com", "cookie_id:ck-2", ann.profile_id):
            with pytest.raises(NotFound):
                handlers.get_profile(u, tenant, ref)
        assert handlers.get_profile(u, tenant, "email:other@example.com")
        published = u.session.execute(
            select(outbox.c.payload).where(
                outbox.c.type == identity_events_pb2.ProfileForgotten.DESCRIPTOR.full_name,
                outbox.c.tenant_id == tenant,
            )
        ).scalar_one()
    assert identity_events_pb2.ProfileForgotten.FromString(published).profile_id == ann.profile_id

    later = person("ck-9", email="Ann@example.com", plan="gold")
    await send(js, tenant, later)
    assert [r.outcome for r in await consume(runner, 1)] == [Outcome.APPLIED]  # not dead
    with identity_uow() as u:
        with pytest.raises(NotFound):
            handlers.get_profile(u, tenant, "cookie_id:ck-9")
        reason = u.session.execute(
            select(suppressed_messages.c.reason).where(
                suppressed_messages.c.message_id == later["message_id"]
            )
        ).scalar_one()
        assert reason == "forgotten"
        assert u.forgetting.pending_erasures(10) == [("INGEST", last + 1)]


async def test_without_suppression_a_later_event_makes_a_new_person(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    runner = consumer(js, identity_db, identity_uow, tenant, suppress=False)
    await send(js, tenant, person("ck-1"))
    await consume(runner, 1)
    async with identity_stub(js, identity_db, identity_uow) as stub:
        forgotten = await stub.ForgetProfile(forget(tenant, "email:ann@example.com"), timeout=10)
    await send(js, tenant, person("ck-2"))
    assert [r.outcome for r in await consume(runner, 1)] == [Outcome.APPLIED]
    with identity_uow() as u:
        again = handlers.get_profile(u, tenant, "email:ann@example.com")
    assert again.profile_id != forgotten.profile_id
    assert again.traits["first_name"].json_value == '"Ann"'


async def test_the_profiles_merged_into_a_forgotten_one_are_forgotten_with_it(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    runner = consumer(js, identity_db, identity_uow, tenant)
    for event in (
        {"message_id": "m-1", "identifiers": {"device_id": "d-1"}},
        {"message_id": "m-2", "identifiers": {"device_id": "d-2"}},
        {"message_id": "m-3", "identifiers": {"device_id": "d-1", "user_id": "u-1"}},
        {"message_id": "m-4", "identifiers": {"device_id": "d-2", "user_id": "u-1"}},  # merge
    ):
        await send(js, tenant, {"type": "track", "timestamp": "2026-03-01T12:00:00Z"} | event)
    assert {r.outcome for r in await consume(runner, 4)} == {Outcome.APPLIED}
    with identity_uow() as u:
        survivor = handlers.get_profile(u, tenant, "device_id:d-1")
        merged = u.profiles.get(tenant, survivor.profile_id).aliases
    assert len(merged) == 1
    async with identity_stub(js, identity_db, identity_uow) as stub:
        answer = await stub.ForgetProfile(forget(tenant, merged[0]), timeout=10)  # by alias
    assert (answer.profile_id, tuple(answer.alias_profile_ids)) == (survivor.profile_id, merged)
    assert identity_keys.cipher(tenant, merged[0]) is None
    with identity_uow() as u:
        for ref in ("device_id:d-1", "device_id:d-2", "user_id:u-1", merged[0]):
            with pytest.raises(NotFound):
                handlers.get_profile(u, tenant, ref)
        assert u.forgetting.pending_erasures(10) == []  # all four erased


async def test_forgetting_needs_profiles_write_in_the_callers_tenant(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    await send(js, tenant, person("ck-1"))
    await consume(consumer(js, identity_db, identity_uow, tenant), 1)
    async with identity_stub(js, identity_db, identity_uow, roles=frozenset()) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ForgetProfile(forget(tenant, "cookie_id:ck-1"), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with identity_stub(js, identity_db, identity_uow) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.ForgetProfile(forget(tenant, "email:nobody@example.com"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nobody" not in (missing.value.details() or "")  # never echoed, nor logged
    with identity_uow() as u:
        assert handlers.get_profile(u, tenant, "cookie_id:ck-1")


async def test_an_event_meeting_a_profile_whose_key_is_gone_is_suppressed_not_dead_lettered(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    runner = consumer(js, identity_db, identity_uow, tenant)
    await send(js, tenant, person("ck-1"))
    await consume(runner, 1)
    with identity_uow() as u:
        profile_id = handlers.get_profile(u, tenant, "cookie_id:ck-1").profile_id
    identity_keys.delete_keys(tenant, [profile_id])  # a forget whose transaction then failed
    later = person("ck-1", email="new@example.com")
    await send(js, tenant, later)
    assert [r.outcome for r in await consume(runner, 1)] == [Outcome.APPLIED]
    with identity_uow() as u:
        reasons = u.session.execute(
            select(suppressed_messages.c.reason).where(
                suppressed_messages.c.message_id == later["message_id"]
            )
        ).scalars()
        assert list(reasons) == ["forgotten"]


async def test_after_an_unmerge_each_side_is_forgotten_with_its_own_raw_messages(
    js: JetStreamContext, identity_db: Database, identity_uow: UnitOfWorkFactory
) -> None:
    tenant = random_id("t")
    runner = consumer(js, identity_db, identity_uow, tenant)
    info = await js.stream_info("INGEST")
    for event in (
        {"message_id": "m-1", "identifiers": {"device_id": "d-1", "user_id": "u-1"}},
        {"message_id": "m-2", "identifiers": {"device_id": "d-2"}},  # the other person's
        {"message_id": "m-3", "identifiers": {"device_id": "d-2", "user_id": "u-1"}},  # merge
    ):
        await send(js, tenant, {"type": "track", "timestamp": "2026-03-01T12:00:00Z"} | event)
    assert {r.outcome for r in await consume(runner, 3)} == {Outcome.APPLIED}
    first = info.state.last_seq + 1
    async with identity_stub(js, identity_db, identity_uow) as stub:
        split = pb.UnmergeProfileRequest(
            tenant_id=tenant, profile_ref="user_id:u-1", identifiers=["device_id:d-2"]
        )
        await stub.UnmergeProfile(split, timeout=10)
        await stub.ForgetProfile(forget(tenant, "user_id:u-1"), timeout=10)
        # m-2 fed the merged profile, but it carries only the split-off person's device
        assert [await stored(js, s) for s in range(first, first + 3)] == [False, True, False]
        await stub.ForgetProfile(forget(tenant, "device_id:d-2"), timeout=10)
    assert [await stored(js, s) for s in range(first, first + 3)] == [False, False, False]
