"""The gateway's unit of work in memory, for handlers' unit tests.

Principals and keys are read from the accounts' streams themselves (each account
replayed), so the fake needs no projection of its own; message ids are a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.gateway.domain import accounts
from services.gateway.domain.accounts import Account, KeyView, PrincipalView
from services.gateway.domain.keys import KeyRecord
from services.gateway.domain.ratelimit import TokenBucket
from services.gateway.domain.tracking_plan import PlanCount
from services.gateway.ports import (
    ApiKeys,
    GatewayUnitOfWork,
    MessageIds,
    PlanCounts,
    Principals,
    RateBuckets,
)
from services.gateway.store.tenants import (
    AccountRepository,
    TenantRepository,
    TrackingPlanRepository,
)
from services.kernel.clock import Clock
from services.kernel.store.memory import InMemoryDatabase, InMemoryUnitOfWork, MemoryState


@dataclass
class GatewayState(MemoryState):
    # (tenant, message id) -> (expire time, stream position)
    message_ids: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)
    plan_counts: dict[tuple[str, str], PlanCount] = field(default_factory=dict)
    rate_buckets: dict[str, tuple[float, float]] = field(default_factory=dict)


class _Accounts:
    """Every account held, replayed from its stream (read anew: a rollback replaces state)."""

    def __init__(self, uow: InMemoryGatewayUnitOfWork) -> None:
        self.uow = uow

    def __call__(self, tenant_id: str | None = None) -> Iterator[Account]:
        for stream in sorted(self.uow.state.streams):
            if not stream.startswith(accounts.STREAM_PREFIX):
                continue
            tenant, _, principal_id = stream.removeprefix(accounts.STREAM_PREFIX).partition("/")
            if tenant_id in (None, tenant):
                account = self.uow.accounts.get(tenant, principal_id)
                if account.exists:
                    yield account


class MemoryPrincipals(Principals):
    def __init__(self, all_accounts: Callable[[str | None], Iterator[Account]]) -> None:
        self.accounts = all_accounts

    def get(self, tenant_id: str, principal_id: str) -> PrincipalView | None:
        found = [a for a in self.accounts(tenant_id) if a.principal_id == principal_id]
        return found[0].view() if found else None

    def list(self, tenant_id: str, after: str, limit: int) -> list[PrincipalView]:
        views = sorted((a.view() for a in self.accounts(tenant_id)), key=lambda v: v.principal_id)
        return [v for v in views if v.principal_id > after][:limit]


class MemoryApiKeys(ApiKeys):
    def __init__(self, all_accounts: Callable[[str | None], Iterator[Account]]) -> None:
        self.accounts = all_accounts

    def _records(self) -> dict[str, KeyRecord]:
        return {
            key_id: record
            for a in self.accounts(None)
            for key_id in a.keys
            if (record := a.key_record(key_id)) is not None
        }

    def _views(self, tenant_id: str) -> list[KeyView]:
        views = [a.key_view(k) for a in self.accounts(tenant_id) for k in a.keys.values()]
        return sorted(views, key=lambda v: v.key_id)

    def find(self, key_ids: Collection[str]) -> dict[str, KeyRecord]:
        return {k: r for k, r in self._records().items() if k in key_ids}

    def active(self) -> list[KeyRecord]:
        return [r for r in self._records().values() if not r.revoked]

    def get(self, tenant_id: str, key_id: str) -> KeyView | None:
        return next((v for v in self._views(tenant_id) if v.key_id == key_id), None)

    def list(self, tenant_id: str, principal_id: str, after: str, limit: int) -> list[KeyView]:
        views = [
            v
            for v in self._views(tenant_id)
            if v.key_id > after and principal_id in ("", v.principal.actor.id)
        ]
        return views[:limit]


class MemoryMessageIds(MessageIds):
    def __init__(self, table: Callable[[], dict[tuple[str, str], tuple[datetime, int]]]) -> None:
        self.table = table

    def seen(self, tenant_id: str, message_ids: Collection[str], now: datetime) -> dict[str, int]:
        kept = self.table()
        found = {m: kept[tenant_id, m] for m in message_ids if (tenant_id, m) in kept}
        return {m: sequence for m, (expiry, sequence) in found.items() if expiry > now}

    def remember(
        self, tenant_id: str, accepted: Mapping[str, int], now: datetime, expire_time: datetime
    ) -> dict[str, int]:
        held = self.seen(tenant_id, accepted, now)
        for m, sequence in accepted.items():
            if m not in held:
                self.table()[tenant_id, m] = (expire_time, sequence)
        return held

    def prune(self, now: datetime, limit: int) -> int:
        kept = self.table()
        expired = sorted((v[0], k) for k, v in kept.items() if v[0] <= now)[:limit]
        for _, key in expired:
            del kept[key]
        return len(expired)


class MemoryRateBuckets(RateBuckets):
    def __init__(self, table: Callable[[], dict[str, tuple[float, float]]]) -> None:
        self.table = table

    def get(self, key_id: str, rate: float, burst: float, now: float) -> TokenBucket:
        tokens, updated = self.table().get(key_id, (burst, now))
        return TokenBucket(rate, burst, tokens, updated)

    def save(self, key_id: str, bucket: TokenBucket) -> None:
        self.table()[key_id] = (bucket.tokens, bucket.updated)


class MemoryPlanCounts(PlanCounts):
    def __init__(self, table: Callable[[], dict[tuple[str, str], PlanCount]]) -> None:
        self.table = table

    def add(self, tenant_id: str, counts: Mapping[str, PlanCount], at: datetime) -> None:
        for name, count in counts.items():
            held = self.table().get((tenant_id, name), PlanCount())
            added = PlanCount(held.rejected + count.rejected, held.flagged + count.flagged, at)
            self.table()[tenant_id, name] = added

    def counts(self, tenant_id: str) -> dict[str, PlanCount]:
        held = sorted((k[1], v) for k, v in self.table().items() if k[0] == tenant_id)
        return dict(held)


class InMemoryGatewayUnitOfWork(InMemoryUnitOfWork[GatewayState], GatewayUnitOfWork):
    def attach_repositories(self) -> None:
        self.tenants = TenantRepository(self)
        self.accounts = AccountRepository(self)
        self.tracking_plans = TrackingPlanRepository(self)
        self.plan_counts = MemoryPlanCounts(lambda: self.state.plan_counts)
        held = _Accounts(self)
        self.principals = MemoryPrincipals(held)
        self.api_keys = MemoryApiKeys(held)
        self.message_ids = MemoryMessageIds(lambda: self.state.message_ids)
        self.rate_buckets = MemoryRateBuckets(lambda: self.state.rate_buckets)


def in_memory(clock: Clock) -> InMemoryDatabase[GatewayState]:
    return InMemoryDatabase(GatewayState(), clock)
