from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.identity.bootstrap import MIGRATIONS
from services.identity.store.audiences import AudienceProjection
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import Clock, SystemClock
from services.kernel.store.database import Database
from services.kernel.store.limits import DEFAULT_LIMITS, StoreLimits
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import migrated_database

identity_db = migrated_database(MIGRATIONS)


@pytest.fixture
def identity_keys(tmp_path: Path) -> Iterator[SqlProfileKeys]:
    """Identity's key store: a SQLite file of its own, apart from the database."""
    keys = SqlProfileKeys.open(f"sqlite:///{tmp_path / 'identity-keys.db'}")
    yield keys
    keys.close()


def identity_units(
    db: Database,
    keys: SqlProfileKeys,
    limits: StoreLimits = DEFAULT_LIMITS,
    clock: Clock | None = None,
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    """Identity's units of work as the service makes them: bound to `keys`, projecting."""
    return UnitOfWorkFactory(
        db.sessions,
        clock or SystemClock(),
        [ProfileProjection(keys), AudienceProjection(), AssetProjection()],
        None,
        limits,
        kind=SqlIdentityUnitOfWork.with_keys(keys),
    )


@pytest.fixture
def identity_uow(
    identity_db: Database, identity_keys: SqlProfileKeys
) -> UnitOfWorkFactory[SqlIdentityUnitOfWork]:
    return identity_units(identity_db, identity_keys)
