from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.identity.bootstrap import MIGRATIONS
from services.identity.store.projection import ProfileProjection
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import POSTGRES_URL, _postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def identity_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
        migrate(db.engine, MIGRATIONS)
        yield db
        db.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LAYERCAKE_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_database(MIGRATIONS)


@pytest.fixture
def identity_uow(identity_db: Database) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(identity_db.sessions, SystemClock(), [ProfileProjection()])
