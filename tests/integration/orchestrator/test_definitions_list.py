"""ListJourneys and ListTemplates page in the orchestrator's store: a page is a seek of the
assets read model's primary key after the token's id, never the tenant's whole list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from services.kernel.assets.repository import list_query
from services.kernel.assets.tables import assets
from services.kernel.store.database import Database
from services.orchestrator.domain.kinds import JOURNEY, TEMPLATE
from tests.integration.harness import explain


def _row(tenant: str, kind: str, asset_id: str) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "kind": kind,
        "asset_id": asset_id,
        "state": "draft",
        "latest_version": 1,
        "published_version": 0,
        "published_state": "",
        "content_hash": "",
        "display_name": "",
        "owner": "",
        "team": "",
        "support_contact": "",
        "tags": "",
        "stream_version": 1,
        "update_time": datetime(2026, 3, 1, tzinfo=UTC),
    }


def test_a_page_of_journeys_seeks_the_primary_key(service_db: Database) -> None:
    with service_db.transaction() as session:
        session.execute(
            insert(assets),
            [
                _row(tenant, kind, f"j-{n:04}")
                for tenant in ("acme", "globex")
                for kind in (JOURNEY.name, TEMPLATE.name)
                for n in range(1500)
            ],
        )
    query = list_query("acme", JOURNEY.name, "j-0100", 3)
    with service_db.transaction() as session:
        found = [tuple(r) for r in session.execute(query.with_only_columns(*assets.c[:3]))]
    assert found == [("acme", JOURNEY.name, f"j-{n:04}") for n in (101, 102, 103)]
    plan = explain(
        service_db, lambda s: s.execute(list_query("acme", JOURNEY.name, "j-0100", 101)), "assets"
    )
    if service_db.is_sqlite:
        assert "(tenant_id=? AND kind=? AND asset_id>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # read in key order: no sort
    else:
        assert "pk_assets" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan
