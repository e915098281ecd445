"""The orchestrator's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.kernel.clock import Clock
from services.kernel.store.memory import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    MemoryProfileCopies,
    MemoryState,
)
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.facts import StockFact, StockWaiter
from services.orchestrator.domain.frequency_caps import LedgerEntry, SendState
from services.orchestrator.ports import FactsRepository, OrchestratorUnitOfWork, SendLedger


@dataclass
class OrchestratorState(MemoryState):
    contact_states: dict[tuple[str, str], ContactState] = field(default_factory=dict)
    send_ledger: dict[tuple[str, str], LedgerEntry] = field(default_factory=dict)
    stock_levels: dict[tuple[str, str, str], StockFact] = field(default_factory=dict)
    stock_waiters: dict[tuple[str, str, str, str], StockWaiter] = field(default_factory=dict)


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

    def forget(self, tenant_id: str, profile_id: str) -> int:
        table = self.table()
        gone = [
            k for k, e in table.items() if (e.tenant_id, e.profile_id) == (tenant_id, profile_id)
        ]
        for key in gone:
            del table[key]
        return len(gone)

    def move_profile(self, tenant_id: str, from_profile_id: str, to_profile_id: str) -> int:
        table = self.table()
        moved = [
            e for e in table.values() if (e.tenant_id, e.profile_id) == (tenant_id, from_profile_id)
        ]
        for e in moved:
            table[(tenant_id, e.send_id)] = replace(e, profile_id=to_profile_id)
        return len(moved)


class MemoryFacts(FactsRepository):
    def __init__(self, state: Callable[[], OrchestratorState]) -> None:
        self.state = state  # read anew on every call: a rollback replaces it

    def stock(self, tenant_id: str, product: str, store: str) -> StockFact | None:
        return self.state().stock_levels.get((tenant_id, product, store))

    def put_stock(self, fact: StockFact) -> None:
        self.state().stock_levels[(fact.tenant_id, fact.product, fact.store)] = fact

    def add_waiter(self, waiter: StockWaiter) -> None:
        key = (waiter.tenant_id, waiter.product, waiter.store, waiter.send_id)
        self.state().stock_waiters.setdefault(key, waiter)

    def forget_waiter(self, tenant_id: str, profile_id: str) -> int:
        waiters = self.state().stock_waiters
        gone = [
            k for k, w in waiters.items() if (w.tenant_id, w.profile_id) == (tenant_id, profile_id)
        ]
        for key in gone:
            del waiters[key]
        return len(gone)

    def pop_waiters(self, tenant_id: str, product: str, store: str) -> list[StockWaiter]:
        waiters = self.state().stock_waiters
        taken = sorted(k for k in waiters if k[:3] == (tenant_id, product, store))
        return [waiters.pop(k) for k in taken]


class InMemoryOrchestratorUnitOfWork(InMemoryUnitOfWork[OrchestratorState], OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = MemoryProfileCopies(
            lambda: self.state.contact_states, "contact_states"
        )
        self.send_ledger = MemorySendLedger(lambda: self.state.send_ledger)
        self.facts = MemoryFacts(lambda: self.state)


def in_memory(clock: Clock) -> InMemoryDatabase[OrchestratorState]:
    return InMemoryDatabase(OrchestratorState(), clock)
