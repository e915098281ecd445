"""The tenant repository (aggregates from their streams) and key lookups (read model)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
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
        self.uow.append(
            tenant.stream_id,
            tenant.version,
            new_events,
            EventMetadata(
                tenant_id=tenant.tenant_id,
                actor=actor,
                traceparent=telemetry.current_traceparent(),
            ),
        )
        tenant.saved()


def find_key(session: Session, key_id: str) -> KeyRecord | None:
    row = session.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
    if row is None:
        return None
    return KeyRecord(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        secret_sha256=row.secret_sha256,
        scopes=frozenset(row.scopes.split()),
        revoked=row.revoke_time is not None,
    )


def revoked_among(session: Session, key_ids: Collection[str]) -> set[str]:
    """Which of `key_ids` are revoked now."""
    if not key_ids:
        return set()
    rows = session.execute(
        select(api_keys.c.key_id).where(
            api_keys.c.key_id.in_(list(key_ids)), api_keys.c.revoke_time.is_not(None)
        )
    )
    return {r.key_id for r in rows}
