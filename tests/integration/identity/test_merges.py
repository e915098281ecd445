"""Merges through a real nats-server and the identity consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from services.identity import handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.identifiers import Identifier
from services.identity.store.forgetting import suppressed_query, unrelayed
from services.identity.store.profile_rows import move_aliases, rows_query
from services.identity.store.profiles import SqlProfileRepository, owners_query
from services.identity.store.tables import forgotten_identifiers, profile_identifiers, profiles
from services.kernel.store.database import Database
from services.kernel.store.event_store import tails_query
from services.kernel.store.schema import events, outbox
from services.kernel.store.snapshots import snapshots_query
from services.kernel.store.transient import is_transient
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.identity.conftest import query_plan

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_owner_lookup_is_an_index_seek_per_identifier(identity_db: Database) -> None:
    ids = [Identifier("device_id", "d1"), Identifier("email", "ab" * 32, hashed=True)]
    query = owners_query("acme", ids)
    rows = [  # a tenant with many identifiers on few profiles, as statistics will say
        {
            "tenant_id": "acme",
            "id_type": "cookie_id",
            "id_value": f"c{n}",
            "hashed": False,
            "profile_id": f"p{n % 10}",
        }
        for n in range(3000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(profile_identifiers), rows)
    dialect, plan, cond = query_plan(identity_db, query)
    if dialect == "sqlite":
        assert "tenant_id=? AND id_type=? AND id_value=?" in plan, plan
        assert "ix_profile_identifiers_profile" not in plan, plan
    else:
        assert "profile_identifiers_pkey" in plan, plan
        assert "id_type = ANY" in cond and "id_value = ANY" in cond, plan
        assert "Filter" not in plan, plan


def _many_profiles(db: Database) -> None:
    """A tenant with many profiles, a tenth of them merged into a few, as statistics say."""
    rows = [
        {
            "tenant_id": "acme",
            "profile_id": f"p{n}",
            "version": 1,
            "traits": "{}",
            "consent": "{}",
            "create_time": AT,
            "update_time": AT,
            "merged_into": f"p{n % 7}" if n % 10 == 9 else None,
        }
        for n in range(3000)
    ]
    with db.transaction() as s:
        s.execute(insert(profiles), rows)


def test_a_batch_reads_its_profile_rows_by_primary_key(identity_db: Database) -> None:
    _many_profiles(identity_db)
    dialect, plan, cond = query_plan(identity_db, rows_query("acme", ["p1", "p20", "p300"]))
    if dialect == "sqlite":
        assert "USING INDEX sqlite_autoindex_profiles_1 (tenant_id=? AND profile_id=?)" in plan
    else:
        assert "profiles_pkey" in plan, plan
        assert "profile_id = ANY" in cond, plan
        assert "Filter" not in plan, plan


def test_a_merge_moves_aliases_by_an_index_seek(identity_db: Database) -> None:
    _many_profiles(identity_db)
    dialect, plan, cond = query_plan(identity_db, move_aliases("acme", "p3", "p1"))
    if dialect == "sqlite":
        assert "ix_profiles_merged_into (tenant_id=? AND merged_into=?)" in plan, plan
    else:
        assert "ix_profiles_merged_into" in plan, plan
        assert "merged_into =" in cond, plan


def test_the_suppression_check_seeks_each_digest(identity_db: Database) -> None:
    rows = [
        {"tenant_id": "acme", "digest": f"{n:064x}", "profile_id": f"p{n}", "forget_time": AT}
        for n in range(3000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(forgotten_identifiers), rows)
    query = suppressed_query("acme", ["ab" * 32, "cd" * 32])
    dialect, plan, cond = query_plan(identity_db, query, seqscan=False)
    if dialect == "sqlite":
        assert "(tenant_id=? AND digest=?)" in plan, plan
    else:
        assert "forgotten_identifiers_pkey" in plan, plan
        assert "digest = ANY" in cond, plan
        assert "Filter" not in plan, plan


def test_forgetting_finds_the_profiles_unrelayed_messages_by_an_index_seek(
    identity_db: Database,
) -> None:
    rows = [  # an outbox holding many tenants' messages about many profiles
        {
            "event_id": f"e{n}",
            "subject": "layercake.acme.identity.profile_updated",
            "type": "t",
            "payload": b"",
            "tenant_id": f"t{n % 5}",
            "source": "identity",
            "subject_ref": f"p{n}",
            "traceparent": "",
            "created_time": AT,
        }
        for n in range(3000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(outbox), rows)
    query = select(outbox.c.id).where(unrelayed("t1", ["p1", "p6"]))
    dialect, plan, cond = query_plan(identity_db, query, seqscan=False)
    if dialect == "sqlite":
        assert "ix_outbox_subject_ref (tenant_id=? AND subject_ref=?)" in plan, plan
    else:
        assert "ix_outbox_subject_ref" in plan, plan
        assert "subject_ref = ANY" in cond, plan
        assert "Filter" not in plan, plan


def test_a_batch_loads_its_profiles_by_index_seeks(identity_db: Database) -> None:
    rows = [
        {
            "stream_id": f"profile-p{n // 40}",
            "version": n % 40 + 1,
            "event_id": f"e{n}",
            "type": "t",
            "payload": b"",
            "tenant_id": "acme",
            "actor_id": "a",
            "actor_kind": "system",
            "schema_version": 1,
            "causation_id": "",
            "correlation_id": "",
            "traceparent": "",
            "recorded_time": AT,
        }
        for n in range(4000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(events), rows)
    tails = tails_query({"profile-p3": 10, "profile-p7": 0, "profile-p9": 39})
    dialect, plan, cond = query_plan(identity_db, tails, seqscan=False)
    if dialect == "sqlite":
        assert "MULTI-INDEX OR" in plan and "stream_id=? AND version>?" in plan, plan
        assert "SCAN events" not in plan, plan
    else:
        assert "Bitmap Index Scan" in plan and "Seq Scan" not in plan, plan
        assert "stream_id =" in cond and "version >" in cond, plan
    query = snapshots_query(["profile-p3", "profile-p7"])
    dialect, plan, cond = query_plan(identity_db, query, seqscan=False)
    if dialect == "sqlite":
        assert "(stream_id=?)" in plan and "SCAN" not in plan, plan
    else:
        assert "snapshots_pkey" in plan and "stream_id = ANY" in cond, plan


def test_two_events_racing_to_merge_the_same_profiles_resolve_on_retry(
    identity_db: Database, identity_uow: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    if identity_db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite writers queue on BEGIN IMMEDIATE: two cannot interleave")
    tenant = random_id("t")
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def apply(message_id: str, ids: tuple[tuple[str, str], ...]) -> None:
        with identity_uow() as u:
            handlers.apply_ingested_event(
                u, ApplyIngestedEvent(tenant, message_id, at, ids), causation_id=message_id
            )
            u.commit()

    apply("m1", (("device_id", "d1"),))
    apply("m2", (("device_id", "d2"),))
    real_owners = SqlProfileRepository.owners
    raced = False

    def owners_then_race(self: SqlProfileRepository, *args: Any) -> dict[Identifier, str]:
        nonlocal raced
        found = real_owners(self, *args)
        if not raced:  # the other replica merges the same profiles meanwhile
            raced = True
            apply("m3", (("device_id", "d1"), ("device_id", "d2"), ("cookie_id", "c3")))
        return found

    monkeypatch.setattr(SqlProfileRepository, "owners", owners_then_race)
    with pytest.raises(Exception) as lost:
        apply("m4", (("device_id", "d2"), ("device_id", "d1"), ("cookie_id", "c4")))
    assert is_transient(lost.value), lost.value  # the consumer retries it, never dead-letters
    apply("m4", (("device_id", "d2"), ("device_id", "d1"), ("cookie_id", "c4")))  # the retry
    with identity_uow() as u:
        profile = handlers.get_profile(u, tenant, "cookie_id:c4")
        assert handlers.get_profile(u, tenant, "cookie_id:c3").profile_id == profile.profile_id
        live = u.session.execute(
            select(func.count())
            .select_from(profiles)
            .where(profiles.c.tenant_id == tenant, profiles.c.merged_into.is_(None))
        ).scalar_one()
    assert {i.value for i in profile.identifiers} == {"d1", "d2", "c3", "c4"}
    assert live == 1
