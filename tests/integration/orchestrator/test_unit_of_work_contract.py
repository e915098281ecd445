"""The orchestrator's unit of work, in memory and on SQLite/PostgreSQL: the kernel's
promises, and its contact-state repository's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.bootstrap import MIGRATIONS
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, OrchestratorState
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import ALL_BACKENDS
from tests.contracts.unit_of_work import ProfileCopiesContract, Units, units_for

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


class TestOrchestratorUnitOfWork(ProfileCopiesContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        with units_for(
            request.param,
            tmp_path,
            MIGRATIONS,
            SqlOrchestratorUnitOfWork,
            InMemoryOrchestratorUnitOfWork,
            OrchestratorState,
        ) as units:
            yield units

    def copy(self, version: int, tenant_id: str = "acme", profile_id: str = "p-1") -> ContactState:
        consent = {"email_marketing": True}
        return ContactState(tenant_id, profile_id, version, consent, "UTC", AT, {"consent.x": 2})

    def copies(self, uow: AbstractUnitOfWork) -> ProfileCopies[ContactState]:
        assert isinstance(uow, OrchestratorUnitOfWork)
        return uow.contact_states
