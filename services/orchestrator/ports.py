"""The orchestrator's unit of work: the kernel's port plus its own repositories.

Handlers take `OrchestratorUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy
and `store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.frequency_caps import LedgerEntry


class SendLedger(ABC):
    """The per-profile send ledger (a read model): each send's latest state, by send id."""

    @abstractmethod
    def get(self, tenant_id: str, send_id: str) -> LedgerEntry | None: ...

    @abstractmethod
    def record(self, entry: LedgerEntry) -> None:
        """Writes the entry, replacing the one of the same send id."""

    @abstractmethod
    def capping(self, tenant_id: str, profile_id: str, since: datetime) -> list[LedgerEntry]:
        """What frequency caps count: the profile's sends since `since`, and its holds."""


class OrchestratorUnitOfWork(AbstractUnitOfWork):
    contact_states: ProfileCopies[ContactState]
    send_ledger: SendLedger
