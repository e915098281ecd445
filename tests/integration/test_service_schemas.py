"""Each service's revisions create exactly its tables module, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData

from services.decision.bootstrap import MIGRATIONS as DECISION
from services.decision.store.tables import metadata as decision
from services.gateway.bootstrap import MIGRATIONS as GATEWAY
from services.gateway.store.tables import metadata as gateway
from services.identity.bootstrap import MIGRATIONS as IDENTITY
from services.identity.store.tables import metadata as identity
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import metadata as kernel
from services.orchestrator.bootstrap import MIGRATIONS as ORCHESTRATOR
from services.orchestrator.store.tables import metadata as orchestrator
from tests.conftest import migrated_database
from tests.integration.harness import schema_drift

blank = migrated_database(None, target="")

SERVICES = {
    "identity": (IDENTITY, identity),
    "gateway": (GATEWAY, gateway),
    "orchestrator": (ORCHESTRATOR, orchestrator),
    "decision": (DECISION, decision),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_revisions_create_exactly_the_tables_module(blank: Database, service: str) -> None:
    migrations: Path
    tables: MetaData
    migrations, tables = SERVICES[service]
    migrate(blank.engine, migrations)
    assert schema_drift(blank, tables) == []
    assert schema_drift(blank, kernel) == []
