"""After ForgetProfile no personal value of the person is left in clear in identity's
database: not in its events, snapshots, read models, outbox or any other table (every
row of every table read back), not in the SQLite file's bytes (with its WAL), and not
in a log record written meanwhile. Identifiers of every kind count: cookie and device
ids as much as emails and phones."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import MetaData, select

from services.demo.scan import files_holding
from services.identity import handlers
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.kernel.errors import NotFound
from services.kernel.messaging.consumer import Outcome
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


async def test_a_forgotten_person_leaves_no_clear_value_in_identitys_store_or_logs(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant, tag = random_id("t"), uuid.uuid4().hex[:10]
    cookie, cookie2, device = f"ckz{tag}", f"ckw{tag}", f"dvz{tag}"
    email, phone, crm, name = f"zq{tag}@example.com", "+14155552671", f"crmz{tag}", f"Zel{tag}"
    runner = consumer(js, identity_db, identity_uow, tenant)
    await send(js, tenant, event({"device_id": device, "cookie_id": cookie}))  # anonymous
    await send(js, tenant, event({"cookie_id": cookie2, "email": email}, first_name=name))
    await send(js, tenant, event({"device_id": device, "email": email, "phone": phone}))  # merge
    await send(js, tenant, event({"crm_id": crm, "email": email}, email=email, phone=phone))
    await send(js, tenant, event({"cookie_id": "ck-someone-else"}, first_name="Other"))
    assert {r.outcome for r in await consume(runner, 5)} == {Outcome.APPLIED}
    secrets = [s.encode() for s in (cookie, cookie2, device, email, crm, name, phone[2:])]
    assert rows_holding(identity_db, secrets)  # the scan sees clear values while remembered

    async with identity_stub(js, identity_db, identity_uow) as stub:
        await stub.ForgetProfile(forget(tenant, f"email:{email}"), timeout=10)

    with identity_uow() as u:
        for ref in (f"email:{email}", f"device_id:{device}", f"cookie_id:{cookie}"):
            with pytest.raises(NotFound):
                handlers.get_profile(u, tenant, ref)
        assert handlers.get_profile(u, tenant, "cookie_id:ck-someone-else")  # not forgotten
    assert rows_holding(identity_db, secrets) == {}
    assert files_holding(tmp_path, secrets) == {}  # SQLite: the file, its WAL, the key store
    with identity_db.transaction() as s:  # a replay of the log brings nothing back
        replay(s, [ProfileProjection(identity_keys), AudienceProjection()])
    assert rows_holding(identity_db, secrets) == {}
    with identity_uow() as u, pytest.raises(NotFound):
        handlers.get_profile(u, tenant, f"device_id:{device}")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert [s.decode() for s in secrets if s in logged.encode()] == []
