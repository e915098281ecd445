"""Forgetting a person deletes their decisions and exposure counters: each statement must
seek an index on the profile, not read every row of the tenant's log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from services.decision.store.decisions import ALL, SqlDecisionLog
from services.decision.store.tables import action_exposures, decisions
from services.kernel.store.database import Database
from tests.integration.harness import explain

PEOPLE = [f"p-{i}" for i in range(2_000)]
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _seed(db: Database) -> None:
    with db.transaction() as session:
        session.execute(
            insert(decisions),
            [
                {
                    "tenant_id": tenant,
                    "decision_id": f"{tenant}-{p}",
                    "profile_id": p,
                    "placement": "drinks",
                    "model_name": "drinks",
                    "model_version": "1",
                    "fallback": False,
                    "decide_time": NOW,
                }
                for tenant in ("acme", "globex")
                for p in PEOPLE
            ],
        )
        session.execute(
            insert(action_exposures),
            [
                {"tenant_id": tenant, "action_id": a, "profile_id": p, "served": 1, "positives": 0}
                for tenant in ("acme", "globex")
                for a in ("water", "diet_soda")
                for p in [ALL, *PEOPLE]
            ],
        )


def test_forgetting_a_person_seeks_their_rows_by_profile(service_db: Database) -> None:
    _seed(service_db)
    found = explain(
        service_db,
        lambda s: s.execute(
            select(decisions.c.decision_id).where(
                decisions.c.tenant_id == "acme", decisions.c.profile_id.in_(["p-7"])
            )
        ),
        "decisions",
    )
    deleted = explain(
        service_db,
        lambda s: s.execute(
            action_exposures.delete().where(
                action_exposures.c.tenant_id == "acme",
                action_exposures.c.profile_id.in_(["p-7"]),
            )
        ),
        "action_exposures",
    )
    if service_db.is_sqlite:
        assert "ix_decisions_profile (tenant_id=? AND profile_id=?)" in found, found
        assert "ix_action_exposures_profile (tenant_id=? AND profile_id=?)" in deleted, deleted
    else:
        assert "ix_decisions_profile" in found and "Seq Scan" not in found, found
        assert "ix_action_exposures_profile" in deleted and "Seq Scan" not in deleted, deleted
    with service_db.transaction() as session:
        assert SqlDecisionLog(session).forget("acme", ["p-7"]) == 1
    with service_db.transaction() as session:
        left = session.execute(
            action_exposures.select().where(action_exposures.c.profile_id == "p-7")
        ).all()
    assert {r.tenant_id for r in left} == {"globex"}  # the other tenant's person stays
