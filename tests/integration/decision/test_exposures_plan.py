"""Every Decide reads the exposures of its candidate actions (caps, cold start): the read
must seek an index, whatever number of people the tenant's actions were shown to."""

from __future__ import annotations

from sqlalchemy import insert

from services.decision.store.decisions import ALL, SqlDecisionLog
from services.decision.store.tables import action_exposures
from services.kernel.store.database import Database
from tests.integration.harness import explain


def test_a_decisions_exposure_read_seeks_the_primary_key(service_db: Database) -> None:
    actions = [f"a-{n}" for n in range(4)]
    with service_db.transaction() as session:
        session.execute(
            insert(action_exposures),
            [
                {"tenant_id": tenant, "action_id": a, "profile_id": p, "served": 1, "positives": 0}
                for tenant in ("acme", "globex")
                for a in actions
                for p in [ALL, *(f"p-{i}" for i in range(2_500))]
            ],
        )
    with service_db.transaction() as session:
        found = SqlDecisionLog(session).exposures("acme", "p-7", actions[:2])
    assert {a: (e.total, e.to_profile) for a, e in found.items()} == {
        "a-0": (1, 1),
        "a-1": (1, 1),
    }
    plan = explain(
        service_db,
        lambda s: SqlDecisionLog(s).exposures("acme", "p-7", actions[:2]),
        "action_exposures",
    )
    if service_db.is_sqlite:
        assert "sqlite_autoindex_action_exposures_1 (tenant_id=? AND action_id=? AND" in plan, plan
    else:  # the primary key, or the profile's index (a row per action of the tenant)
        seeks = "action_exposures_pkey" in plan or "ix_action_exposures_profile" in plan
        assert seeks and "Seq Scan" not in plan, plan
