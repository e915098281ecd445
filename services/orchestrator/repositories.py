"""The journey engine's repositories as ports: instance rows and step counts (read
models), the published journeys, and timers. SQLAlchemy adapters in `store/`, fakes in
`store/memory.py`, held to one contract suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.orchestrator.domain.instances.runnable import RunnableJourney

TIMER_KIND = "journey.step"


@dataclass(frozen=True)
class InstanceRecord:
    """One instance at a glance (the `journey_instances` row): where its latest run is."""

    tenant_id: str
    journey_id: str
    profile_id: str
    journey_version: int
    run: int
    active: bool
    step_id: str
    wait_reason: str  # '' when not waiting
    wait_event: str
    due_time: datetime | None
    enter_time: datetime
    exit_reason: str
    stream_version: int


@dataclass(frozen=True)
class StepCount:
    """A count per journey version and step ('' for the journey as a whole): `entered`,
    `sent`, `suppressed:<reason>`, `delayed`, `converted`, `exited`, `exited:<reason>`,
    `migrated_in`, `migrated_out`."""

    journey_version: int
    step_id: str
    metric: str
    count: int


class InstanceRecords(ABC):
    """The instances read model and the step counts, written with the instance's events
    (the SQL adapter writes them behind, a batch at a flush)."""

    @abstractmethod
    def put(self, record: InstanceRecord) -> None: ...

    @abstractmethod
    def of_profile(self, tenant_id: str, profile_id: str) -> list[InstanceRecord]:
        """A profile's instances (active or not), by journey id."""

    @abstractmethod
    def prefetch(self, tenant_id: str, profile_ids: Sequence[str]) -> None:
        """Reads the instances of `profile_ids` at once, for the `of_profile` calls that
        follow in this transaction (a cache: nothing depends on it having run)."""

    @abstractmethod
    def active_of(self, tenant_id: str, journey_id: str, version: int) -> list[InstanceRecord]:
        """The runs inside a journey version now, by profile."""

    @abstractmethod
    def add_counts(
        self, tenant_id: str, journey_id: str, counts: Mapping[tuple[int, str, str], int]
    ) -> None:
        """Adds to the counts keyed (version, step, metric)."""

    @abstractmethod
    def counts(self, tenant_id: str, journey_id: str) -> list[StepCount]: ...

    @abstractmethod
    def waiting(self, tenant_id: str, journey_id: str) -> list[StepCount]:
        """Active runs waiting, per version and step (metric `waiting`)."""


@dataclass(frozen=True)
class LiveJourney:
    """A journey with a published version: people may enter it unless it is paused."""

    journey_id: str
    version: int
    paused: bool


class JourneyCatalog(ABC):
    @abstractmethod
    def live(self, tenant_id: str) -> list[LiveJourney]:
        """The tenant's journeys that have a live (published or paused) version."""

    @abstractmethod
    def find(self, tenant_id: str, journey_id: str) -> LiveJourney | None: ...

    @abstractmethod
    def runnable(self, tenant_id: str, journey_id: str, version: int) -> RunnableJourney:
        """A version as it was published (immutable), compiled."""

    def live_versions(self, tenant_id: str) -> list[tuple[LiveJourney, RunnableJourney]]:
        """Each live journey of the tenant with its live version, compiled."""
        return [
            (live, self.runnable(tenant_id, live.journey_id, live.version))
            for live in self.live(tenant_id)
        ]


class TimerBook(ABC):
    """The kernel's durable timers of kind `journey.step`, in this unit of work (the SQL
    adapter writes them behind: the last word on a timer in a transaction wins)."""

    @abstractmethod
    def schedule(self, tenant_id: str, timer_id: str, due: datetime, payload: bytes) -> None: ...

    @abstractmethod
    def cancel(self, tenant_id: str, timer_id: str) -> None: ...
