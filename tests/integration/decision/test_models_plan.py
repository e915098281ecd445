"""ListModels pages by (model name, version) after the last one given: each page must seek
the primary key past the cursor, not read the tenant's earlier versions again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from services.decision.store.models import SqlModelVersions
from services.decision.store.tables import model_versions
from services.kernel.store.database import Database
from tests.integration.harness import explain

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
NAMES = [f"m-{n:03}" for n in range(40)]
VERSIONS = [f"v{n:02}" for n in range(30)]


def _row(tenant: str, name: str, version: str) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "model_name": name,
        "version": version,
        "sha256": "0" * 64,
        "size_bytes": 1,
        "feature_names": ["x"],
        "signature": {"inputs": [], "outputs": []},
        "score_output": "p",
        "owner": "",
        "description": "",
        "labels": {},
        "register_time": NOW,
        "content": b"x",
    }


def test_a_page_after_a_cursor_seeks_the_primary_key(service_db: Database) -> None:
    with service_db.transaction() as session:
        session.execute(
            insert(model_versions),
            [_row(t, n, v) for t in ("acme", "globex") for n in NAMES for v in VERSIONS],
        )

    def page(name: str, after: tuple[str, str]) -> list[tuple[str, str]]:
        with service_db.transaction() as session:
            found = SqlModelVersions(session).list("acme", name, after, 3)
        return [(m.model_name, m.version) for m in found]

    assert page("", ("m-007", "v29")) == [("m-008", "v00"), ("m-008", "v01"), ("m-008", "v02")]
    assert page("", ("m-007", "v28")) == [("m-007", "v29"), ("m-008", "v00"), ("m-008", "v01")]
    assert page("m-007", ("m-007", "v28")) == [("m-007", "v29")]
    seeks = {"": "(model_name,version)>(?,?))", "m-020": "model_name=? AND version>?)"}
    for name, seek in seeks.items():
        plan = explain(
            service_db,
            lambda s, name=name: SqlModelVersions(s).list("acme", name, ("m-020", "v10"), 3),
            "model_versions",
        )
        if service_db.is_sqlite:
            assert f"sqlite_autoindex_model_versions_1 (tenant_id=? AND {seek}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # read in key order: no sort
        else:
            assert "model_versions_pkey" in plan and "Seq Scan" not in plan, plan
            assert "Sort" not in plan and "Filter" not in plan, plan  # the cursor bounds the seek
