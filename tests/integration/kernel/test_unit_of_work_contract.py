"""The kernel's unit of work keeps the same promises in memory, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.store.memory import InMemoryUnitOfWork, MemoryState
from services.kernel.store.unit_of_work import UnitOfWork
from tests.conftest import ALL_BACKENDS
from tests.contracts.unit_of_work import UnitOfWorkContract, Units, units_for


class TestKernelUnitOfWork(UnitOfWorkContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        with units_for(
            request.param, tmp_path, None, UnitOfWork, InMemoryUnitOfWork, MemoryState
        ) as units:
            yield units
