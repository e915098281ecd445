from collections.abc import AsyncIterator

import pytest

from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator.api.servicer import orchestrator_servicer
from services.orchestrator.bootstrap import MIGRATIONS, journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import migrated_database
from tests.integration.orchestrator.people import People
from tests.orchestrator_fakes import FakeDirectory
from tests.signing import INTERNAL

service_db = migrated_database(MIGRATIONS)


@pytest.fixture
async def people(service_db: Database) -> AsyncIterator[People]:
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )
    engine = journey_engine(OrchestratorConfig())
    servicer = orchestrator_servicer(ServiceLayer(service_db, units), engine, FakeDirectory())
    server = create_server("127.0.0.1:0", [servicer], internal=INTERNAL)
    await server.server.start()
    people = People(f"127.0.0.1:{server.port}")
    try:
        yield people
    finally:
        for channel in people.channels:
            await channel.close()
        await server.server.stop(None)
