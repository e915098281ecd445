"""The gateway's tracking-plan handlers: apply and read a tenant's plan, count what it did.

Ingest judges events with the plan a `TrackingPlans` cache holds (`api.plans.PlanBook`);
what the plan rejected or flagged is counted here, in Prometheus and in the store, so a
tenant can query it (`GetTrackingPlan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from prometheus_client import Counter

from services.gateway.domain.tracking_plan import CompiledPlan, PlanCount, TrackingPlan, parse_plan
from services.gateway.ports import GatewayUnitOfWork
from services.kernel.principals import Actor

PLANNED = Counter(
    "layercake_gateway_tracking_plan_events_total",
    "Events a tenant's tracking plan rejected or flagged",
    ["outcome"],
)


class TrackingPlans(Protocol):
    """A tenant's compiled plan, or None without one (cached per replica)."""

    async def get(self, tenant_id: str) -> CompiledPlan | None: ...


def apply_tracking_plan(
    uow: GatewayUnitOfWork, tenant_id: str, document: object, actor: Actor
) -> TrackingPlan:
    """Replaces the tenant's plan with `document` (its schemas checked first); the plan in
    force applied again records nothing. Every replica hears of a new version."""
    content = parse_plan(document)
    plan = uow.tracking_plans.get(tenant_id)
    plan.apply_plan(content, uow.now())
    uow.tracking_plans.save(plan, actor)
    uow.commit()
    return plan


def get_tracking_plan(uow: GatewayUnitOfWork, tenant_id: str) -> TrackingPlan:
    """The tenant's plan (without content, version 0, when it has none)."""
    return uow.tracking_plans.get(tenant_id)


def tracking_plan_counts(uow: GatewayUnitOfWork, tenant_id: str) -> dict[str, PlanCount]:
    return uow.plan_counts.counts(tenant_id)


def count_planned(
    uow: GatewayUnitOfWork, tenant_id: str, counts: Mapping[str, PlanCount], at: datetime
) -> None:
    """Adds what a request's events met in the plan, per event type."""
    PLANNED.labels("rejected").inc(sum(c.rejected for c in counts.values()))
    PLANNED.labels("flagged").inc(sum(c.flagged for c in counts.values()))
    uow.plan_counts.add(tenant_id, counts, at)
    uow.commit()
