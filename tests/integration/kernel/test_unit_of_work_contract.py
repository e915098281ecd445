"""The kernel's unit of work keeps the same promises in memory, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from services.kernel.store.database import Database
from services.kernel.store.memory import InMemoryDatabase, InMemoryUnitOfWork, MemoryState
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import ALL_BACKENDS, sql_database
from tests.contracts.unit_of_work import CLOCK, UnitOfWorkContract, Units


def committed_outbox(db: Database) -> list[str]:
    with db.transaction() as s:
        return list(s.execute(select(outbox.c.event_id)).scalars())


class TestKernelUnitOfWork(UnitOfWorkContract):
    @pytest.fixture(params=ALL_BACKENDS)
    def units(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Units]:
        if request.param == "memory":
            memory = InMemoryDatabase(MemoryState(), CLOCK)
            yield Units(
                lambda: InMemoryUnitOfWork(memory),
                lambda: [m.event_id for m in memory.state.outbox],
            )
            return
        with sql_database(request.param, tmp_path, None) as db:
            yield Units(UnitOfWorkFactory(db.sessions, CLOCK), lambda: committed_outbox(db))
