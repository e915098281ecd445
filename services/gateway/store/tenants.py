"""Repositories of the gateway's aggregates: each rebuilt from its stream, saved by appending.

They use only the kernel's port, so the SQL adapter and the in-memory fake share them.
"""

from __future__ import annotations

from services.gateway import mapping
from services.gateway.domain import accounts, tracking_plan
from services.gateway.domain.accounts import Account
from services.gateway.domain.events import GatewayEvent, TenantCreated, TrackingPlanApplied
from services.gateway.domain.tenant import Tenant, stream_id
from services.gateway.domain.tracking_plan import TrackingPlan
from services.kernel import telemetry
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata, StoredEvent
from services.kernel.unit_of_work import AbstractUnitOfWork


def _events(stored: list[StoredEvent]) -> list[GatewayEvent]:
    return [mapping.EVENTS.decode(s, None) for s in stored]


def _append(
    uow: AbstractUnitOfWork,
    stream: str,
    version: int,
    tenant_id: str,
    pending: list[GatewayEvent],
    actor: Actor,
) -> None:
    """Appends `pending` after `version`, recording `actor`, and queues what every gateway
    replica must hear of (outbox, same transaction); a stale version is ConcurrencyError."""
    traceparent = telemetry.current_traceparent()
    uow.append(
        stream,
        version,
        [mapping.EVENTS.new_event(e, None) for e in pending],
        EventMetadata(tenant_id=tenant_id, actor=actor, traceparent=traceparent),
    )
    for event in pending:
        message = mapping.integration_event(tenant_id, event, uow.now(), traceparent)
        if message is not None:
            uow.publish(message)


class TenantRepository:
    def __init__(self, uow: AbstractUnitOfWork) -> None:
        self.uow = uow

    def get(self, tenant_id: str) -> Tenant:
        """The tenant rebuilt from its stream; a blank one (not `exists`) when there is none."""
        stored = self.uow.load(stream_id(tenant_id))
        if not stored:
            return Tenant(tenant_id=tenant_id)
        return Tenant.replay(_events(stored), stored[-1].version)

    def save(self, tenant: Tenant, actor: Actor) -> None:
        if tenant.pending:
            pending: list[GatewayEvent] = list(tenant.pending)
            _append(self.uow, tenant.stream_id, tenant.version, tenant.tenant_id, pending, actor)
            tenant.saved()


class AccountRepository:
    """Principals' accounts, with their roles and keys."""

    def __init__(self, uow: AbstractUnitOfWork) -> None:
        self.uow = uow

    def get(self, tenant_id: str, principal_id: str) -> Account:
        """The account rebuilt from its stream; a blank one (not `exists`) when there is none."""
        blank = Account(tenant_id=tenant_id, principal_id=principal_id)
        if not accounts.is_principal_id(principal_id):
            return blank  # never a stream; create() names the field, the rest say not found
        stored = self.uow.load(blank.stream_id)
        if not stored:
            return blank
        events = [
            e for e in _events(stored) if not isinstance(e, TenantCreated | TrackingPlanApplied)
        ]
        account = Account.replay(events, stored[-1].version)
        account.tenant_id = tenant_id
        return account

    def save(self, account: Account, actor: Actor) -> None:
        if not account.pending:
            return
        pending: list[GatewayEvent] = list(account.pending)
        _append(self.uow, account.stream_id, account.version, account.tenant_id, pending, actor)
        account.saved()


class TrackingPlanRepository:
    """Each tenant's tracking plan, one stream per tenant holding every version."""

    def __init__(self, uow: AbstractUnitOfWork) -> None:
        self.uow = uow

    def get(self, tenant_id: str) -> TrackingPlan:
        """The plan rebuilt from its stream; one without content when there is none."""
        stored = self.uow.load(tracking_plan.stream_id(tenant_id))
        if not stored:
            return TrackingPlan(tenant_id=tenant_id)
        events = [e for e in _events(stored) if isinstance(e, TrackingPlanApplied)]
        return TrackingPlan.replay(events, stored[-1].version)

    def save(self, plan: TrackingPlan, actor: Actor) -> None:
        if plan.pending:
            pending: list[GatewayEvent] = list(plan.pending)
            _append(self.uow, plan.stream_id, plan.version, plan.tenant_id, pending, actor)
            plan.saved()
