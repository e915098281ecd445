"""Fixtures of the kernel integration tests: tenant, clock, units of work, effects table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import effects_metadata


@pytest.fixture
def tenant() -> str:
    return random_id("t")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def uow(database: Database, clock: FixedClock) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(database.sessions, clock)


@pytest.fixture
def with_effects(database: Database) -> Database:
    """The kernel database plus the test handlers' effects table."""
    effects_metadata.create_all(database.engine)
    return database
