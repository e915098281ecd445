"""The orchestrator's unit of work on SQLAlchemy: the kernel's, plus its repositories.

A batch of runs (a consumer's fetch, the scheduler's timers) is read and written in
bulk: `preload` reads the batch's instance streams with one query, and the instance
rows, step counts and timers are written behind, a batched statement each per flush.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.audience_members import SqlAudienceMembers
from services.orchestrator.store.contact_states import sql_contact_states
from services.orchestrator.store.facts import SqlFacts
from services.orchestrator.store.instance_records import SqlInstanceRecords
from services.orchestrator.store.journey_catalog import SqlJourneyCatalog
from services.orchestrator.store.send_ledger import SqlSendLedger
from services.orchestrator.store.timer_book import SqlTimerBook
from services.orchestrator.store.trait_names import SqlTraitNames

PRELOAD_CHUNK = 500  # streams a preload asks for per query


class SqlOrchestratorUnitOfWork(UnitOfWork, OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = sql_contact_states(self.session)
        self.send_ledger = SqlSendLedger(self.session)
        self.audience_members = SqlAudienceMembers(self.session)
        self.facts = SqlFacts(self.session)
        self.instance_records = self.sql_records = SqlInstanceRecords(self.session)
        self.journeys = SqlJourneyCatalog(self)
        self.timers = self.sql_timers = SqlTimerBook(self.session, self.clock)
        self.trait_names = SqlTraitNames(self.session)
        self._streams: dict[str, list[StoredEvent]] = {}  # preloaded, untouched since

    def preload(self, stream_ids: Iterable[str]) -> None:
        todo = [s for s in dict.fromkeys(stream_ids) if s not in self._streams]
        for start in range(0, len(todo), PRELOAD_CHUNK):
            chunk = todo[start : start + PRELOAD_CHUNK]
            found = self.events.load_many(chunk)
            self._streams |= {s: found.get(s, []) for s in chunk}

    def load(self, stream_id: str) -> list[StoredEvent]:
        held = self._streams.get(stream_id)
        return list(held) if held is not None else super().load(stream_id)

    def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        metadata: EventMetadata,
    ) -> None:
        self._streams.pop(stream_id, None)  # read from the store again, with these
        super().append(stream_id, expected_version, new_events, metadata)

    def flush(self) -> None:
        """The kernel's appends and outbox, then the instance rows, counts and timers."""
        super().flush()
        self.sql_records.flush()
        self.sql_timers.flush()

    def forget_buffered(self) -> None:
        self._streams.clear()
        self.sql_records.forget()
        self.sql_timers.discard()
