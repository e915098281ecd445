"""Merges through a real nats-server and the identity consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from services.identity import handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.identifiers import Identifier
from services.identity.store.profiles import SqlProfileRepository, owners_query
from services.identity.store.tables import profile_identifiers, profiles
from services.kernel.store.database import Database
from services.kernel.store.transient import is_transient
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.identity.conftest import query_plan


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
