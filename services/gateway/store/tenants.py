"""The tenant repository (aggregates from their streams) and key lookups (read model)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.gateway import mapping
from services.gateway.domain.keys import KeyRecord
from services.gateway.domain.tenant import Tenant, stream_id
from services.gateway.store.tables import api_keys
from services.kernel import telemetry
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.kernel.store.unit_of_work import UnitOfWork


class TenantRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def get(self, tenant_id: str) -> Tenant:
        """The tenant rebuilt from its stream; a blank one (not `exists`) when there is none."""
        stored = self.uow.events.load(stream_id(tenant_id))
        if not stored:
            return Tenant(tenant_id=tenant_id)
        return Tenant.replay((mapping.EVENTS.decode(s, None) for s in stored), stored[-1].version)

    def save(self, tenant: Tenant, actor: Actor) -> None:
        """Appends the pending events; a stale version raises ConcurrencyError."""
        if not tenant.pending:
            return
        new_events = [mapping.EVENTS.new_event(e, None) for e in tenant.pending]
        traceparent = telemetry.current_traceparent()
        self.uow.append(
            tenant.stream_id,
            tenant.version,
            new_events,
            EventMetadata(tenant_id=tenant.tenant_id, actor=actor, traceparent=traceparent),
        )
        for event in tenant.pending:
            message = mapping.integration_event(tenant.tenant_id, event, traceparent)
            if message is not None:
                self.uow.publish(message)
        tenant.saved()


def find_key(session: Session, key_id: str) -> KeyRecord | None:
    row = session.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
    return None if row is None else _record(row)


def _record(row: Row[Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        secret_sha256=row.secret_sha256,
        scopes=frozenset(row.scopes.split()),
        revoked=row.revoke_time is not None,
    )


def active_keys(session: Session) -> list[KeyRecord]:
    """Every key not revoked: what a gateway's key cache starts from."""
    rows = session.execute(select(api_keys).where(api_keys.c.revoke_time.is_(None)))
    return [_record(row) for row in rows]
