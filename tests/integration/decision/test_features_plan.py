"""A decision's miss reads a profile's features with one seek of the primary key, text and
boolean features stored in the same JSON map as the numbers (no second table, no scan)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from services.decision.store.features import sql_features
from services.decision.store.tables import profile_features
from services.kernel.store.database import Database
from tests.integration.harness import explain

PEOPLE = [f"p-{i}" for i in range(2_000)]
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_a_profiles_features_are_read_by_primary_key_text_included(service_db: Database) -> None:
    with service_db.transaction() as session:
        session.execute(
            insert(profile_features),
            [
                {
                    "tenant_id": tenant,
                    "profile_id": p,
                    "profile_version": 1,
                    "features": {"trait_plan": "gold", "trait_vip": True, "trait_age": 41.0},
                    "update_time": NOW,
                    "field_versions": {"trait:plan": 1, "trait:vip": 1, "trait:age": 1},
                }
                for tenant in ("acme", "globex")
                for p in PEOPLE
            ],
        )
    plan = explain(service_db, lambda s: sql_features(s).get("acme", "p-7"), "profile_features")
    if service_db.is_sqlite:
        assert "SEARCH profile_features USING INDEX sqlite_autoindex_profile_features_1" in plan
        assert "(tenant_id=? AND profile_id=?)" in plan, plan
    else:
        assert "Index Scan using profile_features_pkey" in plan and "Seq Scan" not in plan, plan
    with service_db.transaction() as session:
        found = sql_features(session).get("acme", "p-7")
    assert found is not None
    assert dict(found.values) == {"trait_plan": "gold", "trait_vip": True, "trait_age": 41.0}
    assert type(found.values["trait_vip"]) is bool
