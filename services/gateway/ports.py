"""The gateway's unit of work: the kernel's port plus its own repositories.

Handlers take `GatewayUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy and
`store.memory` keeps it in memory for unit tests, and one contract suite holds both.
Tenants, accounts and tracking plans are event-sourced (rebuilt from their streams on any
adapter); principals, keys, message ids and plan counts are kept each adapter's own way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from datetime import datetime

from services.gateway.domain.accounts import KeyView, PrincipalView
from services.gateway.domain.keys import KeyRecord
from services.gateway.domain.ratelimit import TokenBucket
from services.gateway.domain.tracking_plan import PlanCount
from services.gateway.store.tenants import (
    AccountRepository,
    TenantRepository,
    TrackingPlanRepository,
)
from services.kernel.unit_of_work import AbstractUnitOfWork


class Principals(ABC):
    """The principals read model; every read is within one tenant."""

    @abstractmethod
    def get(self, tenant_id: str, principal_id: str) -> PrincipalView | None: ...

    @abstractmethod
    def list(self, tenant_id: str, after: str, limit: int) -> list[PrincipalView]:
        """Principals of the tenant by id, after `after`, at most `limit`."""


class ApiKeys(ABC):
    """The API keys read model, each with its principal's current roles."""

    @abstractmethod
    def find(self, key_ids: Collection[str]) -> dict[str, KeyRecord]:
        """The keys among `key_ids` (revoked ones too), whatever their tenant: the door's
        lookup, which then checks the secret."""

    @abstractmethod
    def active(self) -> list[KeyRecord]:
        """Every key not revoked: what a key cache starts from."""

    @abstractmethod
    def get(self, tenant_id: str, key_id: str) -> KeyView | None:
        """A key of `tenant_id` only: another tenant's key id is not found."""

    @abstractmethod
    def list(self, tenant_id: str, principal_id: str, after: str, limit: int) -> list[KeyView]:
        """Keys of the tenant (of one principal when `principal_id`), by id, after `after`."""


class MessageIds(ABC):
    """Message ids a tenant had accepted, with their stream position, until their window ends."""

    @abstractmethod
    def seen(self, tenant_id: str, message_ids: Collection[str], now: datetime) -> dict[str, int]:
        """The ids among `message_ids` accepted within their window, with their position."""

    @abstractmethod
    def remember(
        self, tenant_id: str, accepted: Mapping[str, int], now: datetime, expire_time: datetime
    ) -> dict[str, int]:
        """Keeps the ids until `expire_time` (an expired id's window starts again), except
        those already held within their window (another request accepted them first),
        which it returns with their position."""

    @abstractmethod
    def prune(self, now: datetime, limit: int) -> int:
        """Deletes at most `limit` expired ids, oldest first; returns how many."""


class RateBuckets(ABC):
    """Each API key's token bucket shared by every replica (tokens, last refill in epoch
    seconds); read for update, so concurrent leases queue."""

    @abstractmethod
    def get(self, key_id: str, rate: float, burst: float, now: float) -> TokenBucket:
        """The key's bucket, locked until the transaction ends; full when it has none yet."""

    @abstractmethod
    def save(self, key_id: str, bucket: TokenBucket) -> None: ...


class PlanCounts(ABC):
    """What tenants' tracking plans rejected and flagged, per event type."""

    @abstractmethod
    def add(self, tenant_id: str, counts: Mapping[str, PlanCount], at: datetime) -> None:
        """Adds `counts` to those held (concurrent requests never lose each other's)."""

    @abstractmethod
    def counts(self, tenant_id: str) -> dict[str, PlanCount]: ...


class GatewayUnitOfWork(AbstractUnitOfWork):
    tenants: TenantRepository
    accounts: AccountRepository
    tracking_plans: TrackingPlanRepository
    principals: Principals
    api_keys: ApiKeys
    message_ids: MessageIds
    rate_buckets: RateBuckets
    plan_counts: PlanCounts
