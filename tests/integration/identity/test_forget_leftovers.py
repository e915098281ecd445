"""After ForgetProfile no personal value of the person is left in clear in identity's
database: not in its events, snapshots, read models, outbox or any other table (every
row of every table read back), not in the SQLite file's bytes (with its WAL), not in a
message the `IDENTITY` or `INGEST` stream still stores (relayed before the forget, or in
the outbox then and relayed after) nor in a dead letter's copy of one, not in the
nats-server's store files, and not in a log record written meanwhile. Identifiers of
every kind count: cookie and device ids as much as emails and phones."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import MetaData, select

from layercake.events.v1 import identity_events_pb2 as ie
from layercake.identity.v1 import identity_service_pb2 as pb
from services.demo.scan import files_holding
from services.identity import handlers
from services.identity.rules_cache import RulesCache
from services.identity.store.audiences import AudienceProjection
from services.identity.store.forgetting import record_relayed
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.tables import profile_trait_index
from services.identity.stream_eraser import StreamEraser
from services.kernel.errors import NotFound
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.messaging.read_back import stored
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.projections import replay
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import consume
from tests.integration.identity.test_forget import consumer, forget, identity_stub
from tests.integration.identity.test_ingest_to_profile import send


def event(identifiers: dict[str, str], **traits: str) -> dict[str, object]:
    return {
        "message_id": random_id("m-"),
        "type": "identify",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": identifiers,
        "traits": {"plan": "gold"} | traits,
    }


def rows_holding(db: Database, secrets: list[bytes]) -> dict[str, list[str]]:
    """Every table of the database whose rows hold any of `secrets`, and which."""
    tables = MetaData()
    tables.reflect(db.engine)
    found: dict[str, list[str]] = {}
    with db.transaction() as s:
        for table in tables.sorted_tables:
            for row in s.execute(select(table)):
                data = b"\x00".join(
                    v if isinstance(v, bytes) else str(v).encode() for v in row if v is not None
                )
                for secret in secrets:
                    if secret in data:
                        found.setdefault(table.name, []).append(secret.decode())
    return found


async def stored_messages(js: JetStreamContext, stream: str, subject: str) -> list[bytes]:
    """Every message on `subject` the stream still stores, its headers and body as bytes
    (what a follower replaying the stream from its start would read)."""
    found: list[bytes] = []
    for msg in await stored(js, stream, subject, 100_000):
        headers = "\n".join(f"{k}: {v}" for k, v in (msg.headers or {}).items())
        found.append(headers.encode() + b"\n" + msg.data)
    return found


async def dead_letter(runner: ConsumerRunner, stream: str, subject: str) -> None:
    """Sets every message on `subject` aside as a consumer that gave up on it does."""
    for msg in await stored(runner.js, stream, subject, 100_000):
        await runner.dead_letter(msg, "gave up", 3)


def holding(messages: list[bytes], secrets: list[bytes]) -> set[str]:
    return {s.decode() for s in secrets for m in messages if s in m}


async def test_a_forgotten_person_leaves_no_clear_value_in_identitys_store_or_logs(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    nats_server: NatsServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant, tag = random_id("t"), uuid.uuid4().hex[:10]
    cookie, cookie2, device = f"ckz{tag}", f"ckw{tag}", f"dvz{tag}"
    email, phone, crm, name = f"zq{tag}@example.com", "+14155552671", f"crmz{tag}", f"Zel{tag}"
    other = f"ck-other{tag}"
    runner = consumer(js, identity_db, identity_uow, tenant)
    relay = OutboxRelay(identity_db, js, on_relayed=record_relayed)  # as identity runs it
    published = f"layercake.{tenant}.identity.>"
    await send(js, tenant, event({"device_id": device, "cookie_id": cookie}))  # anonymous
    await send(js, tenant, event({"cookie_id": cookie2, "email": email}, first_name=name))
    await send(js, tenant, event({"device_id": device, "email": email, "phone": phone}))  # merge
    await send(js, tenant, event({"cookie_id": other}, first_name="Other"))
    assert {r.outcome for r in await consume(runner, 4)} == {Outcome.APPLIED}
    assert await relay.flush()
    dead_letters = f"layercake.{tenant}.dlq.>"  # copies of raw events and of messages about them
    await dead_letter(runner, "INGEST", f"layercake.{tenant}.ingest")
    await dead_letter(runner, "IDENTITY", published)
    await send(js, tenant, event({"crm_id": crm, "email": email}, email=email, phone=phone))
    assert {r.outcome for r in await consume(runner, 1)} == {Outcome.APPLIED}  # not relayed
    secrets = [s.encode() for s in (cookie, cookie2, device, email, crm, name, phone[2:])]
    assert rows_holding(identity_db, secrets)  # the scan sees clear values while remembered
    relayed = await stored_messages(js, "IDENTITY", published)
    assert holding(relayed, secrets) == {cookie, cookie2, device}  # identifiers go in clear
    assert holding(await stored_messages(js, "DEADLETTER", dead_letters), secrets)
    assert files_holding(nats_server.store_dir, secrets)  # INGEST's and IDENTITY's files

    async with identity_stub(js, identity_db, identity_uow) as stub:
        await stub.ForgetProfile(forget(tenant, f"email:{email}"), timeout=10)
    assert await relay.flush()  # ProfileForgotten, and the messages unrelayed at the forget
    eraser = StreamEraser(js, ServiceLayer(identity_db, identity_uow), 60, RulesCache())
    assert await eraser.erase_pending()  # those the relay found forgotten meanwhile

    after = await stored_messages(js, "IDENTITY", published)
    assert holding(after, secrets) == set()  # a follower replaying finds nothing of them
    assert holding(after, [other.encode()]) == {other}  # someone else's stay
    forgotten = ie.ProfileForgotten.DESCRIPTOR.full_name.encode()
    assert sum(forgotten in m for m in after) == 1  # followers still learn of the forget
    assert (
        holding(await stored_messages(js, "INGEST", f"layercake.{tenant}.ingest"), secrets) == set()
    )
    letters = await stored_messages(js, "DEADLETTER", dead_letters)
    assert holding(letters, secrets) == set()
    assert holding(letters, [other.encode()]) == {other}
    assert files_holding(nats_server.store_dir, secrets) == {}  # overwritten on disk

    with identity_uow() as u:
        for ref in (f"email:{email}", f"device_id:{device}", f"cookie_id:{cookie}"):
            with pytest.raises(NotFound):
                handlers.get_profile(u, tenant, ref)
        assert handlers.get_profile(u, tenant, f"cookie_id:{other}")  # not forgotten
    assert rows_holding(identity_db, secrets) == {}
    with identity_db.transaction() as s:  # nor is their profile id searchable by a trait
        indexed = s.execute(
            select(profile_trait_index.c.profile_id).where(
                profile_trait_index.c.tenant_id == tenant
            )
        ).scalars()
        assert len(set(indexed)) == 1  # someone else's
    assert files_holding(tmp_path, secrets) == {}  # SQLite: the file, its WAL, the key store
    with identity_db.transaction() as s:  # a replay of the log brings nothing back
        replay(s, [ProfileProjection(identity_keys), AudienceProjection()])
    assert rows_holding(identity_db, secrets) == {}
    with identity_uow() as u, pytest.raises(NotFound):
        handlers.get_profile(u, tenant, f"device_id:{device}")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert [s.decode() for s in secrets if s in logged.encode()] == []


async def test_a_person_split_off_by_an_unmerge_leaves_no_clear_value_in_the_other_profile(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant, tag = random_id("t"), uuid.uuid4().hex[:10]
    mine, theirs, crm = f"dvm{tag}", f"dvt{tag}", f"crmt{tag}"
    runner = consumer(js, identity_db, identity_uow, tenant)
    await send(js, tenant, event({"device_id": mine, "user_id": f"u{tag}"}))
    await send(js, tenant, event({"device_id": theirs, "crm_id": crm}))
    await send(js, tenant, event({"device_id": theirs, "user_id": f"u{tag}"}))  # merges them
    assert {r.outcome for r in await consume(runner, 3)} == {Outcome.APPLIED}
    async with identity_stub(js, identity_db, identity_uow) as stub:
        split = pb.UnmergeProfileRequest(
            tenant_id=tenant,
            profile_ref=f"user_id:u{tag}",
            identifiers=[f"device_id:{theirs}", f"crm_id:{crm}"],
        )
        await stub.UnmergeProfile(split, timeout=10)
        with identity_uow() as u:
            kept = handlers.get_profile(u, tenant, f"device_id:{mine}")
            assert handlers.get_profile(u, tenant, f"crm_id:{crm}").profile_id != kept.profile_id
        assert rows_holding(identity_db, [theirs.encode()])  # in the merged profile's events
        await stub.ForgetProfile(forget(tenant, f"device_id:{theirs}"), timeout=10)

    secrets = [theirs.encode(), crm.encode()]
    assert rows_holding(identity_db, secrets) == {}
    with identity_db.transaction() as s:  # a replay brings nothing back, and keeps the other
        replay(s, [ProfileProjection(identity_keys), AudienceProjection()])
    assert rows_holding(identity_db, secrets) == {}
    with identity_uow() as u:
        after = handlers.get_profile(u, tenant, f"device_id:{mine}")
        assert after.profile_id == kept.profile_id
        assert after.identifiers == kept.identifiers
        with pytest.raises(NotFound):
            handlers.get_profile(u, tenant, f"crm_id:{crm}")
