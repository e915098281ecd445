"""The orchestrator's ports: its unit of work (the kernel's plus its repositories) and the
outside world the journey engine talks to (the send side, identity, decision).

Handlers take `OrchestratorUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy
and `store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork
from services.orchestrator.domain.audience_members import Membership
from services.orchestrator.domain.contact_state import ContactState
from services.orchestrator.domain.facts import StockFact, StockWaiter
from services.orchestrator.domain.frequency_caps import LedgerEntry
from services.orchestrator.domain.instances.profiles import Decision, ProfileView
from services.orchestrator.domain.instances.steps import RunTimer
from services.orchestrator.domain.sending import SendOutcome, SendRequest
from services.orchestrator.repositories import InstanceRecords, JourneyCatalog, TimerBook


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

    @abstractmethod
    def move_profile(self, tenant_id: str, from_profile_id: str, to_profile_id: str) -> int:
        """Re-files a merged-away profile's sends under the survivor (caps count them all)."""

    @abstractmethod
    def forget(self, tenant_id: str, profile_id: str) -> int:
        """Deletes the profile's sends (a forgotten person); returns how many."""


class FactsRepository(ABC):
    """A tenant's business facts (stock levels) and who waits for a product to return."""

    @abstractmethod
    def stock(self, tenant_id: str, product: str, store: str) -> StockFact | None: ...

    @abstractmethod
    def put_stock(self, fact: StockFact) -> None:
        """Writes the level, replacing the one held for its product and store."""

    @abstractmethod
    def add_waiter(self, waiter: StockWaiter) -> None:
        """Records a person suppressed for the product (once per send id)."""

    @abstractmethod
    def pop_waiters(self, tenant_id: str, product: str, store: str) -> list[StockWaiter]:
        """Takes everyone waiting for the product at the store, by send id."""

    @abstractmethod
    def forget_waiter(self, tenant_id: str, profile_id: str) -> int:
        """Deletes the profile's waits for products (a forgotten person); returns how many."""


class AudienceMembers(ABC):
    """Audience membership (a read model of identity's AudienceEntered/Exited)."""

    @abstractmethod
    def of_profile(self, tenant_id: str, profile_id: str) -> dict[str, Membership]:
        """The profile's memberships (left ones too), by audience id."""

    @abstractmethod
    def put(self, membership: Membership) -> None: ...

    @abstractmethod
    def forget(self, tenant_id: str, profile_id: str) -> int:
        """Deletes the profile's memberships; returns how many."""


class TraitNames(ABC):
    """The traits a tenant's profiles hold, personal and computed ones included, as identity
    reported them (never their values), named by the variables a template reads them by
    (`profile.traits.<name>`, `profile.computed.<name>`): what it may read unguarded."""

    @abstractmethod
    def learn(self, tenant_id: str, names: Iterable[str]) -> None:
        """Adds the names the tenant did not have yet."""

    @abstractmethod
    def of_tenant(self, tenant_id: str) -> frozenset[str]: ...


class OrchestratorUnitOfWork(AbstractUnitOfWork):
    contact_states: ProfileCopies[ContactState]
    audience_members: AudienceMembers
    send_ledger: SendLedger
    facts: FactsRepository
    instance_records: InstanceRecords
    journeys: JourneyCatalog
    timers: TimerBook
    trait_names: TraitNames

    def preload(self, stream_ids: Iterable[str]) -> None:
        """Reads these streams at once, for the `load` calls that follow in this transaction
        (a cache of a batch: nothing depends on it having run)."""


class SendStep(Protocol):
    """Runs a send step inside the run's transaction (`services.orchestrator.sends.send` with
    the deployment's policy): sent, suppressed with a reason, or delayed until a time."""

    def __call__(self, uow: OrchestratorUnitOfWork, request: SendRequest) -> SendOutcome: ...


class ProfileDirectory(Protocol):
    """Identity, as the engine asks it before a transaction opens. Both methods raise
    NotReady when identity does not answer (down, slow): a consumer's prepare step then
    waits for it (the kernel runner holds the message) instead of failing the message."""

    async def find(self, tenant_id: str, profile_ref: str) -> ProfileView | None:
        """The profile `<type>:<value>` or a profile id names; None when identity has none."""
        ...

    async def event_ids(self, tenant_id: str, profile_id: str) -> frozenset[str]:
        """The message ids of the ingested events that belong to the profile (carried an
        identifier it holds), as identity says after merges and unmerges."""
        ...


class Decider(Protocol):
    """The decision service's Decide, with a deadline; raises when slow or down."""

    async def decide(
        self,
        tenant_id: str,
        profile_id: str,
        placement: str,
        timeout: float,
        request_id: str,
        context: Mapping[str, Any],
    ) -> Decision:
        """The best action for the placement in `context` (the run's entry event's
        context, see `decide_context`, and the journey's ids); NotFound when none is
        eligible. `request_id` names the run's step, so asking twice gets the first
        decision back."""
        ...


class Webhooks(Protocol):
    """Calls a webhook step's URL with the run's context; answers the HTTP status or
    the error's kind (the run takes the step's `next` either way)."""

    async def call(self, tenant_id: str, run: RunTimer, key: str) -> str: ...
