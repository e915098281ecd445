"""Identity's key store: a database of its own, migrated on its own; keys still kept in the
identity database (before the store existed) are adopted, and the upgrade leaves no
personal value in clear in the read model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text

from services.identity.bootstrap import MIGRATIONS
from services.identity.store import keys as key_store
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.vault import ProfileCipher, new_key
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from tests.integration.harness import schema_drift

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_key_store_holds_its_table_and_nothing_else(tmp_path: Path) -> None:
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'keys.db'}")
    try:
        assert schema_drift(keys.db, key_store.metadata) == []
        tables = set(inspect(keys.db.engine).get_table_names()) - {"alembic_version"}
        assert tables == {"profile_keys"}  # no event log, no outbox: keys only
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
