"""Identity's key store: a database of its own, migrated on its own; keys still kept in the
identity database (before the store existed, or before the tenants' hash keys joined it)
are adopted, the upgrade leaves no personal value in clear in the read model, and the
identity database alone (a backup of it) holds no key at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import MetaData, func, inspect, make_url, select, text
from sqlalchemy.exc import OperationalError

from services.identity import handlers
from services.identity.bootstrap import MIGRATIONS
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.store import keys as key_store
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.tables import profiles
from services.identity.store.tenant_keys import SqlTenantKeys, keyed_hasher
from services.identity.store.vault import ProfileCipher, new_key
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import events
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import schema_drift
from tests.integration.identity.conftest import identity_units
from tests.integration.identity.test_ingest_to_profile import ANN, runner, send

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_key_store_holds_its_table_and_nothing_else(tmp_path: Path) -> None:
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'keys.db'}")
    try:
        assert schema_drift(keys.db, key_store.metadata) == []
        tables = set(inspect(keys.db.engine).get_table_names()) - {"alembic_version"}
        assert tables == {"profile_keys", "tenant_keys"}  # no event log, no outbox: keys only
    finally:
        keys.close()


def test_keys_kept_in_the_identity_database_are_adopted_and_clear_traits_dropped(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
    migrate(db.engine, MIGRATIONS, target="identity_0002")
    legacy_key = new_key()
    with db.transaction() as s:
        s.execute(
            text("INSERT INTO profile_keys VALUES ('acme', 'p-1', :key, :at)"),
            {"key": legacy_key, "at": AT},
        )
        traits = {"first_name": {"v": '"Ann"', "t": AT.isoformat()}, "plan": {"v": '"gold"'}}
        s.execute(
            text(
                "INSERT INTO profiles (tenant_id, profile_id, version, traits, consent,"
                " create_time, update_time) VALUES ('acme', 'p-1', 3, :traits, '{}', :at, :at)"
            ),
            {"traits": json.dumps(traits), "at": AT},
        )
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
    try:
        assert keys.adopt(db.engine) == 1
        assert keys.adopt(db.engine) == 1  # again: nothing new, nothing broken
        migrate(db.engine, MIGRATIONS)
        assert keys.adopt(db.engine) == 0  # the identity database holds no key any more
        assert not inspect(db.engine).has_table("profile_keys")
        fresh = SqlProfileKeys.open(keys.db.url)  # no cache: read from the store
        cipher = fresh.cipher("acme", "p-1")
        fresh.close()
        assert cipher is not None
        assert cipher.open(ProfileCipher(legacy_key, "acme", "p-1").seal("Ann")) == "Ann"
        with db.transaction() as s:
            kept = json.loads(s.execute(text("SELECT traits FROM profiles")).scalar_one())
        assert set(kept) == {"plan"}  # `replay` seals the personal ones back
    finally:
        keys.close()
        db.dispose()


def test_tenant_hash_keys_kept_in_the_identity_database_are_adopted_then_dropped(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
    migrate(db.engine, MIGRATIONS, target="identity_0006")
    hash_key = new_key()
    digest = keyed_hasher(hash_key)("ann@example.com")
    with db.transaction() as s:
        s.execute(
            text("INSERT INTO tenant_keys VALUES ('acme', :key, :at)"), {"key": hash_key, "at": AT}
        )
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
    try:
        assert keys.adopt(db.engine) == 1
        migrate(db.engine, MIGRATIONS)
        assert not inspect(db.engine).has_table("tenant_keys")
        assert keys.adopt(db.engine) == 0
        existing = SqlTenantKeys(keys.db).existing("acme")  # read from the store
        assert existing is not None and existing("ann@example.com") == digest
    finally:
        keys.close()
        db.dispose()


async def test_the_identity_database_alone_holds_no_key(
    js: JetStreamContext,
    identity_db: Database,
    identity_uow: UnitOfWorkFactory,
    identity_keys: SqlProfileKeys,
) -> None:
    tenant = random_id("t")
    await send(js, tenant, ANN)
    await runner(js, identity_db, identity_uow, tenant).run_once()
    with identity_keys.db.transaction() as s:
        held = [k for (k,) in s.execute(select(key_store.profile_keys.c.data_key))]
        held += [k for (k,) in s.execute(select(key_store.tenant_keys.c.hash_key))]
    assert len(held) >= 2  # a profile's key and the tenant's hash key
    tables = MetaData()
    tables.reflect(identity_db.engine)
    assert not {"profile_keys", "tenant_keys"} & set(tables.tables)
    with identity_db.transaction() as s:
        stored = b"".join(
            v if isinstance(v, bytes) else str(v).encode()
            for table in tables.sorted_tables
            for row in s.execute(select(table))
            for v in row
            if v is not None
        )
    assert [k for k in held if k in stored or k.hex().encode() in stored] == []
    url = make_url(identity_db.url)
    if url.drivername.startswith("sqlite"):  # the file and its WAL, byte by byte
        files = [Path(url.database or ""), Path(f"{url.database}-wal")]
        data = b"".join(f.read_bytes() for f in files if f.exists())
        assert [k for k in held if k in data] == []


def _ingest(db: Database, keys: SqlProfileKeys, message_id: str) -> str:
    command = ApplyIngestedEvent(
        tenant_id="acme",
        message_id=message_id,
        event_time=AT,
        identifiers=(("cookie_id", f"ck-{message_id}"),),
        traits={"first_name": '"Ann"'},
    )
    with identity_units(db, keys)() as u:
        profile = handlers.apply_ingested_event(u, command, causation_id=message_id)
        u.commit()
    return profile.profile_id


def test_a_new_profiles_key_is_committed_in_its_store_when_its_events_are(
    identity_db: Database, tmp_path: Path
) -> None:
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
    try:
        profile_id = _ingest(identity_db, keys, "m-1")
    finally:
        keys.close()
    reopened = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")  # no cache
    try:
        assert reopened.cipher("acme", profile_id) is not None
    finally:
        reopened.close()


def test_when_the_key_write_fails_the_events_it_would_seal_are_not_committed(
    identity_db: Database, identity_keys: SqlProfileKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_keys: object) -> None:
        raise OperationalError("INSERT INTO profile_keys", {}, Exception("disk full"))

    monkeypatch.setattr(identity_keys, "store_keys", refused)
    with pytest.raises(OperationalError, match="disk full"):
        _ingest(identity_db, identity_keys, "m-2")
    with identity_db.transaction() as s:
        assert s.execute(select(func.count()).select_from(events)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(profiles)).scalar_one() == 0
