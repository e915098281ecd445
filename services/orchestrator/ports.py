"""The orchestrator's unit of work: the kernel's port plus its own repositories.

Handlers take `OrchestratorUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy
and `store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.domain.contact_state import ContactState


class OrchestratorUnitOfWork(AbstractUnitOfWork):
    contact_states: ProfileCopies[ContactState]
