"""Keeps `tenants` and `api_keys` in step with the tenant streams, in the append's transaction."""

from __future__ import annotations

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from services.gateway import mapping
from services.gateway.domain.events import ApiKeyIssued, ApiKeyRevoked, TenantCreated
from services.gateway.domain.tenant import STREAM_PREFIX
from services.gateway.store.tables import api_keys, tenants
from services.kernel.store.records import StoredEvent


class TenantProjection:
    name = "tenants"

    def apply(self, session: Session, event: StoredEvent) -> None:
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        tenant_id = event.stream_id[len(STREAM_PREFIX) :]
        match mapping.EVENTS.decode(event, None):
            case TenantCreated(_, display_name, create_time):
                session.execute(
                    insert(tenants).values(
                        tenant_id=tenant_id,
                        display_name=display_name,
                        version=event.version,
                        create_time=create_time,
                    )
                )
            case ApiKeyIssued(key_id, secret_sha256, scopes, display_name, issue_time):
                session.execute(
                    insert(api_keys).values(
                        key_id=key_id,
                        tenant_id=tenant_id,
                        secret_sha256=secret_sha256,
                        scopes=" ".join(sorted(scopes)),
                        display_name=display_name,
                        issue_time=issue_time,
                        revoke_time=None,
                        revoke_reason="",
                    )
                )
            case ApiKeyRevoked(key_id, reason, revoke_time):
                session.execute(
                    update(api_keys)
                    .where(api_keys.c.key_id == key_id, api_keys.c.tenant_id == tenant_id)
                    .values(revoke_time=revoke_time, revoke_reason=reason)
                )
        session.execute(
            update(tenants).where(tenants.c.tenant_id == tenant_id).values(version=event.version)
        )

    def clear(self, session: Session) -> None:
        session.execute(delete(api_keys))
        session.execute(delete(tenants))
