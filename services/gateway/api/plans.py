"""Tenants' tracking plans, compiled once per replica and dropped when a plan changes.

A miss reads the tenant's plan stream and compiles its schemas; a `TrackingPlanApplied`
published by any replica (or the admin command) reaches every replica through a broadcast
subscription and drops that tenant's entry, so the next ingest reads the new version.
"""

from __future__ import annotations

import logging

from services.gateway import tracking_plans
from services.gateway.domain.tracking_plan import CompiledPlan
from services.gateway.ports import GatewayUnitOfWork
from services.kernel.messaging import subjects
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.service_layer import Layer

log = logging.getLogger(__name__)

PLAN_APPLIED = "tracking_plan_applied"


class PlanBook:
    """The ingest handler's `TrackingPlans`: a tenant's compiled plan, or None without one."""

    def __init__(self, layer: Layer[GatewayUnitOfWork]) -> None:
        self.layer = layer
        self._cache: dict[str, CompiledPlan | None] = {}
        self._changes = 0  # a read that overlapped an invalidation is not cached

    async def get(self, tenant_id: str) -> CompiledPlan | None:
        if tenant_id in self._cache:
            return self._cache[tenant_id]
        changes = self._changes
        stored = await self.layer.read(tracking_plans.get_tracking_plan, tenant_id)
        plan = stored.compiled()
        if changes == self._changes:
            self._cache[tenant_id] = plan
        return plan

    def invalidate(self, tenant_id: str) -> None:
        self._changes += 1
        self._cache.pop(tenant_id, None)

    async def on_plan_applied(self, envelope: Envelope) -> None:
        self.invalidate(envelope.tenant_id)
        log.info("tracking plan dropped from the cache", extra={"tenant": envelope.tenant_id})

    async def clear(self) -> None:
        """At start and after a gap in the broadcast: every plan is read afresh."""
        self._changes += 1
        self._cache.clear()

    def broadcast(self) -> BroadcastSpec:
        return BroadcastSpec(
            name="gateway-tracking-plans",
            stream="GATEWAY",
            filter_subject=subjects.integration("*", "gateway", PLAN_APPLIED),
            handler=self.on_plan_applied,
            load=self.clear,
        )
