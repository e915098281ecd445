"""The orchestrator's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.kernel.clock import Clock
from services.kernel.store.memory import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    MemoryProfileCopies,
    MemoryState,
)
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.frequency_caps import LedgerEntry, SendState
from services.orchestrator.ports import OrchestratorUnitOfWork, SendLedger


@dataclass
class OrchestratorState(MemoryState):
    contact_states: dict[tuple[str, str], ContactState] = field(default_factory=dict)
    send_ledger: dict[tuple[str, str], LedgerEntry] = field(default_factory=dict)


class MemorySendLedger(SendLedger):
    def __init__(self, table: Callable[[], dict[tuple[str, str], LedgerEntry]]) -> None:
        self.table = table  # read anew on every call: a rollback replaces it

    def get(self, tenant_id: str, send_id: str) -> LedgerEntry | None:
        return self.table().get((tenant_id, send_id))

    def record(self, entry: LedgerEntry) -> None:
        self.table()[(entry.tenant_id, entry.send_id)] = entry

    def capping(self, tenant_id: str, profile_id: str, since: datetime) -> list[LedgerEntry]:
        return [
            e
            for e in self.table().values()
            if (e.tenant_id, e.profile_id) == (tenant_id, profile_id)
            and (e.time >= since or e.state is SendState.HELD)
        ]


class InMemoryOrchestratorUnitOfWork(InMemoryUnitOfWork[OrchestratorState], OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = MemoryProfileCopies(
            lambda: self.state.contact_states, "contact_states"
        )
        self.send_ledger = MemorySendLedger(lambda: self.state.send_ledger)


def in_memory(clock: Clock) -> InMemoryDatabase[OrchestratorState]:
    return InMemoryDatabase(OrchestratorState(), clock)
