"""The orchestrator's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kernel.clock import Clock
from services.kernel.store.memory import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    MemoryProfileCopies,
    MemoryState,
)
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.ports import OrchestratorUnitOfWork


@dataclass
class OrchestratorState(MemoryState):
    contact_states: dict[tuple[str, str], ContactState] = field(default_factory=dict)


class InMemoryOrchestratorUnitOfWork(InMemoryUnitOfWork[OrchestratorState], OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = MemoryProfileCopies(
            lambda: self.state.contact_states, "contact_states"
        )


def in_memory(clock: Clock) -> InMemoryDatabase[OrchestratorState]:
    return InMemoryDatabase(OrchestratorState(), clock)
