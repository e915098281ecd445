"""The orchestrator's unit of work on SQLAlchemy: the kernel's, plus its repositories."""

from __future__ import annotations

from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.contact_states import sql_contact_states
from services.orchestrator.store.facts import SqlFacts
from services.orchestrator.store.instance_records import SqlInstanceRecords
from services.orchestrator.store.journey_catalog import SqlJourneyCatalog
from services.orchestrator.store.send_ledger import SqlSendLedger
from services.orchestrator.store.timer_book import SqlTimerBook


class SqlOrchestratorUnitOfWork(UnitOfWork, OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = sql_contact_states(self.session)
        self.send_ledger = SqlSendLedger(self.session)
        self.facts = SqlFacts(self.session)
        self.instance_records = SqlInstanceRecords(self.session)
        self.journeys = SqlJourneyCatalog(self)
        self.timers = SqlTimerBook(self)
