from __future__ import annotations

import pytest

from services.identity.bootstrap import MIGRATIONS
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import migrated_database

identity_db = migrated_database(MIGRATIONS)


@pytest.fixture
def identity_uow(identity_db: Database) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    return UnitOfWorkFactory(
        identity_db.sessions, SystemClock(), [ProfileProjection()], kind=SqlIdentityUnitOfWork
    )
