"""The orchestrator's data migrations, on SQLite and PostgreSQL: rows written under an
older revision read right after the newer ones."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.orchestrator.bootstrap import MIGRATIONS
from services.orchestrator.store.send_ledger import SqlSendLedger
from services.orchestrator.store.tables import send_ledger, trait_names
from services.orchestrator.store.trait_names import SqlTraitNames
from tests.conftest import migrated_database

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)

at_orchestrator_0007 = migrated_database(MIGRATIONS, target="orchestrator_0007")


def _ledger_row(send_id: str, profile_id: str, **more: str) -> dict[str, object]:
    """A send ledger row with only the columns every revision since 0007 has (and `more`)."""
    return {
        "tenant_id": "acme",
        "send_id": send_id,
        "profile_id": profile_id,
        "channel": "email",
        "journey_id": "cart",
        "step_id": "remind",
        "state": "sent",
        "time": AT,
        "value": 0.0,
        "reason": "",
        "feedback": "",
        **more,
    }


def test_sends_recorded_before_0008_keep_their_run_through_a_later_merge(
    at_orchestrator_0007: Database,
) -> None:
    db = at_orchestrator_0007
    with db.transaction() as s:
        s.execute(send_ledger.insert(), [_ledger_row("s-old", "p-merged")])
    migrate(db.engine, MIGRATIONS, target="orchestrator_0009")
    with db.transaction() as s:  # sent by p-run, whose merge into p-survivor moved it
        s.execute(
            send_ledger.insert(), [_ledger_row("s-new", "p-survivor", run_profile_id="p-run")]
        )

    migrate(db.engine, MIGRATIONS)

    with db.transaction() as s:
        ledger = SqlSendLedger(s)
        assert ledger.move_profile("acme", "p-merged", "p-survivor") == 1
        old, new = ledger.get("acme", "s-old"), ledger.get("acme", "s-new")
    assert old is not None and new is not None
    assert (old.profile_id, old.run_profile) == ("p-survivor", "p-merged")
    assert (new.profile_id, new.run_profile) == ("p-survivor", "p-run")


def test_trait_names_learnt_before_0011_are_the_traits_variables(
    at_orchestrator_0007: Database,
) -> None:
    db = at_orchestrator_0007
    migrate(db.engine, MIGRATIONS, target="orchestrator_0009")
    with db.transaction() as s:
        rows = [("acme", "first_name"), ("acme", "tier"), ("other", "first_name")]
        s.execute(trait_names.insert(), [{"tenant_id": t, "name": n} for t, n in rows])

    migrate(db.engine, MIGRATIONS)

    with db.transaction() as s:
        names = SqlTraitNames(s)
        names.learn("acme", ["profile.computed.ltv"])
        assert names.of_tenant("acme") == {
            "profile.traits.first_name",
            "profile.traits.tier",
            "profile.computed.ltv",
        }
        assert names.of_tenant("other") == {"profile.traits.first_name"}
