"""The orchestrator's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.clock import Clock
from services.kernel.errors import NotFound
from services.kernel.store.memory import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    MemoryProfileCopies,
    MemoryState,
)
from services.orchestrator.domain.audience_members import Membership
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.facts import StockFact, StockWaiter
from services.orchestrator.domain.frequency_caps import LedgerEntry, SendState
from services.orchestrator.domain.instances.runnable import RunnableJourney, runnable
from services.orchestrator.ports import (
    AudienceMembers,
    FactsRepository,
    OrchestratorUnitOfWork,
    SendLedger,
    TraitNames,
)
from services.orchestrator.repositories import (
    InstanceRecord,
    InstanceRecords,
    JourneyCatalog,
    LiveJourney,
    StepCount,
    TimerBook,
)

Key = tuple[str, str, str]


@dataclass
class OrchestratorState(MemoryState):
    contact_states: dict[tuple[str, str], ContactState] = field(default_factory=dict)
    send_ledger: dict[tuple[str, str], LedgerEntry] = field(default_factory=dict)
    audience_members: dict[Key, Membership] = field(default_factory=dict)
    stock_levels: dict[tuple[str, str, str], StockFact] = field(default_factory=dict)
    stock_waiters: dict[tuple[str, str, str, str], StockWaiter] = field(default_factory=dict)
    instances: dict[Key, InstanceRecord] = field(default_factory=dict)
    counts: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    live: dict[tuple[str, str], LiveJourney] = field(default_factory=dict)
    versions: dict[tuple[str, str, int], bytes] = field(default_factory=dict)  # pb.Journey
    timers: dict[tuple[str, str], tuple[datetime, bytes]] = field(default_factory=dict)
    trait_names: set[tuple[str, str]] = field(default_factory=set)


class MemoryAudienceMembers(AudienceMembers):
    def __init__(self, table: Callable[[], dict[Key, Membership]]) -> None:
        self.table = table  # read anew on every call: a rollback replaces it

    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, Membership]:
        return {
            m.audience_id: m
            for m in self.table().values()
            if (m.tenant_id, m.profile_id) == (tenant_id, profile_id)
        }

    def put(self, membership: Membership) -> None:
        m = membership
        self.table()[(m.tenant_id, m.audience_id, m.profile_id)] = m

    def forget(self, tenant_id: str, profile_id: str) -> int:
        table = self.table()
        gone = [k for k in table if (k[0], k[2]) == (tenant_id, profile_id)]
        for key in gone:
            del table[key]
        return len(gone)


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


class MemoryInstanceRecords(InstanceRecords):
    def __init__(self, uow: InMemoryOrchestratorUnitOfWork) -> None:
        self.uow = uow

    def put(self, record: InstanceRecord) -> None:
        key = (record.tenant_id, record.journey_id, record.profile_id)
        self.uow.state.instances[key] = record

    def of_profile(self, tenant_id: str, profile_id: str) -> list[InstanceRecord]:
        found = self.uow.state.instances.values()
        mine = [r for r in found if (r.tenant_id, r.profile_id) == (tenant_id, profile_id)]
        return sorted(mine, key=lambda r: r.journey_id)

    def prefetch(self, tenant_id: str, profile_ids: Sequence[str]) -> None:
        pass  # every read is from memory already

    def active_of(self, tenant_id: str, journey_id: str, version: int) -> list[InstanceRecord]:
        key = (tenant_id, journey_id, True, version)
        found = self.uow.state.instances.values()
        return sorted(
            (r for r in found if (r.tenant_id, r.journey_id, r.active, r.journey_version) == key),
            key=lambda r: r.profile_id,
        )

    def add_counts(
        self, tenant_id: str, journey_id: str, counts: Mapping[tuple[int, str, str], int]
    ) -> None:
        held = self.uow.state.counts
        for (version, step, metric), n in counts.items():
            key = (tenant_id, journey_id, version, step, metric)
            held[key] = held.get(key, 0) + n

    def counts(self, tenant_id: str, journey_id: str) -> list[StepCount]:
        return [
            StepCount(v, s, m, n)
            for (t, j, v, s, m), n in sorted(self.uow.state.counts.items())
            if (t, j) == (tenant_id, journey_id)
        ]

    def waiting(self, tenant_id: str, journey_id: str) -> list[StepCount]:
        tally: dict[tuple[int, str], int] = {}
        for r in self.uow.state.instances.values():
            ours = (r.tenant_id, r.journey_id) == (tenant_id, journey_id)
            if ours and r.active and r.wait_reason:
                key = (r.journey_version, r.step_id)
                tally[key] = tally.get(key, 0) + 1
        return [StepCount(v, s, "waiting", n) for (v, s), n in sorted(tally.items())]


class MemoryJourneyCatalog(JourneyCatalog):
    def __init__(self, uow: InMemoryOrchestratorUnitOfWork) -> None:
        self.uow = uow

    def live(self, tenant_id: str) -> list[LiveJourney]:
        held = self.uow.state.live
        return [held[k] for k in sorted(held) if k[0] == tenant_id]

    def find(self, tenant_id: str, journey_id: str) -> LiveJourney | None:
        return self.uow.state.live.get((tenant_id, journey_id))

    def runnable(self, tenant_id: str, journey_id: str, version: int) -> RunnableJourney:
        content = self.uow.state.versions.get((tenant_id, journey_id, version))
        if content is None:
            raise NotFound(f"no journey {journey_id!r} version {version}")
        key = (tenant_id, version, content)
        if key not in _compiled:
            _compiled[key] = runnable(tenant_id, version, pb.Journey.FromString(content))
        return _compiled[key]


_compiled: dict[tuple[str, int, bytes], RunnableJourney] = {}  # versions never change


class MemoryTimerBook(TimerBook):
    def __init__(self, uow: InMemoryOrchestratorUnitOfWork) -> None:
        self.uow = uow

    def schedule(self, tenant_id: str, timer_id: str, due: datetime, payload: bytes) -> None:
        self.uow.state.timers[(tenant_id, timer_id)] = (due, payload)

    def cancel(self, tenant_id: str, timer_id: str) -> None:
        self.uow.state.timers.pop((tenant_id, timer_id), None)


class MemoryTraitNames(TraitNames):
    def __init__(self, uow: InMemoryOrchestratorUnitOfWork) -> None:
        self.uow = uow

    def learn(self, tenant_id: str, names: Iterable[str]) -> None:
        self.uow.state.trait_names.update((tenant_id, n) for n in names)

    def of_tenant(self, tenant_id: str) -> frozenset[str]:
        return frozenset(n for t, n in self.uow.state.trait_names if t == tenant_id)


class InMemoryOrchestratorUnitOfWork(InMemoryUnitOfWork[OrchestratorState], OrchestratorUnitOfWork):
    def attach_repositories(self) -> None:
        self.contact_states = MemoryProfileCopies(
            lambda: self.state.contact_states, "contact_states"
        )
        self.send_ledger = MemorySendLedger(lambda: self.state.send_ledger)
        self.audience_members = MemoryAudienceMembers(lambda: self.state.audience_members)
        self.facts = MemoryFacts(lambda: self.state)
        self.instance_records = MemoryInstanceRecords(self)
        self.journeys = MemoryJourneyCatalog(self)
        self.timers = MemoryTimerBook(self)
        self.trait_names = MemoryTraitNames(self)


def in_memory(clock: Clock) -> InMemoryDatabase[OrchestratorState]:
    return InMemoryDatabase(OrchestratorState(), clock)


def publish_journey(
    db: InMemoryDatabase[OrchestratorState],
    tenant_id: str,
    journey: pb.Journey,
    version: int,
    *,
    paused: bool = False,
) -> None:
    """What publishing (or pausing) a version does to the catalog, for tests."""
    content = journey.SerializeToString(deterministic=True)
    db.state.versions[(tenant_id, journey.journey_id, version)] = content
    live = LiveJourney(journey.journey_id, version, paused)
    db.state.live[(tenant_id, journey.journey_id)] = live
