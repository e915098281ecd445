"""Keeps `tenants`, `principals` and `api_keys` in step with their streams, in the append's
transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from services.gateway import mapping
from services.gateway.domain import accounts, tenant
from services.gateway.domain.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    PrincipalCreated,
    RoleGranted,
    RoleRevoked,
    TenantCreated,
)
from services.gateway.store.tables import api_keys, principals, tenants
from services.kernel.store.records import StoredEvent


class TenantProjection:
    name = "tenants"

    def apply(self, session: Session, events: Sequence[StoredEvent]) -> None:
        for event in events:
            self._apply(session, event)

    def _apply(self, session: Session, event: StoredEvent) -> None:
        tenant_id = event.metadata.tenant_id
        if event.stream_id.startswith(tenant.STREAM_PREFIX):
            if isinstance(created := mapping.EVENTS.decode(event, None), TenantCreated):
                session.execute(
                    insert(tenants).values(
                        tenant_id=tenant_id,
                        display_name=created.display_name,
                        version=event.version,
                        create_time=created.create_time,
                    )
                )
            # keys once recorded on tenant streams belong to no principal: not projected
            session.execute(
                update(tenants)
                .where(tenants.c.tenant_id == tenant_id)
                .values(version=event.version)
            )
        elif event.stream_id.startswith(accounts.STREAM_PREFIX):
            self._apply_principal(session, tenant_id, event)

    def _apply_principal(self, session: Session, tenant_id: str, event: StoredEvent) -> None:
        domain_event = mapping.EVENTS.decode(event, None)
        match domain_event:
            case PrincipalCreated(principal_id, kind, display_name, create_time):
                session.execute(
                    insert(principals).values(
                        tenant_id=tenant_id,
                        principal_id=principal_id,
                        kind=kind.value,
                        display_name=display_name,
                        roles="",
                        version=event.version,
                        create_time=create_time,
                    )
                )
            case RoleGranted(principal_id, role) | RoleRevoked(principal_id, role):
                held = set(_roles(session, tenant_id, principal_id))
                if isinstance(domain_event, RoleGranted):
                    held.add(role.value)
                else:
                    held.discard(role.value)
                session.execute(
                    update(principals)
                    .where(_principal(tenant_id, principal_id))
                    .values(roles=" ".join(sorted(held)))
                )
            case ApiKeyIssued(principal_id, key_id, secret_sha256, scopes, display_name, at):
                session.execute(
                    insert(api_keys).values(
                        key_id=key_id,
                        tenant_id=tenant_id,
                        principal_id=principal_id,
                        secret_sha256=secret_sha256,
                        scopes=" ".join(sorted(s.value for s in scopes)),
                        display_name=display_name,
                        issue_time=at,
                        revoke_time=None,
                        revoke_reason="",
                    )
                )
            case ApiKeyRevoked(_, key_id, reason, revoke_time):
                session.execute(
                    update(api_keys)
                    .where(api_keys.c.key_id == key_id, api_keys.c.tenant_id == tenant_id)
                    .values(revoke_time=revoke_time, revoke_reason=reason)
                )
            case _:
                return
        session.execute(
            update(principals)
            .where(_principal(tenant_id, domain_event.principal_id))
            .values(version=event.version)
        )

    def clear(self, session: Session) -> None:
        session.execute(delete(api_keys))
        session.execute(delete(principals))
        session.execute(delete(tenants))


def _principal(tenant_id: str, principal_id: str):  # type: ignore[no-untyped-def]
    return (principals.c.tenant_id == tenant_id) & (principals.c.principal_id == principal_id)


def _roles(session: Session, tenant_id: str, principal_id: str) -> list[str]:
    row = session.execute(
        select(principals.c.roles).where(_principal(tenant_id, principal_id))
    ).one()
    return str(row.roles).split()
