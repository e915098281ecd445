"""The gateway's unit of work on SQLAlchemy: the kernel's, plus its repositories."""

from __future__ import annotations

from services.gateway.ports import GatewayUnitOfWork
from services.gateway.store.message_ids import SqlMessageIds
from services.gateway.store.plan_counts import SqlPlanCounts
from services.gateway.store.principals import SqlApiKeys, SqlPrincipals
from services.gateway.store.rate_buckets import SqlRateBuckets
from services.gateway.store.tenants import (
    AccountRepository,
    TenantRepository,
    TrackingPlanRepository,
)
from services.kernel.store.unit_of_work import UnitOfWork


class SqlGatewayUnitOfWork(UnitOfWork, GatewayUnitOfWork):
    def attach_repositories(self) -> None:
        self.tenants = TenantRepository(self)
        self.accounts = AccountRepository(self)
        self.tracking_plans = TrackingPlanRepository(self)
        self.plan_counts = SqlPlanCounts(self.session)
        self.principals = SqlPrincipals(self.session)
        self.api_keys = SqlApiKeys(self.session)
        self.message_ids = SqlMessageIds(self.session)
        self.rate_buckets = SqlRateBuckets(self.session)
