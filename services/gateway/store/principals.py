"""The principals and keys read models on SQL: key lookups at the door, admin listings.

Each read is an index seek (`principals` by its key, `api_keys` by key id or by
(tenant, principal)); every listing filters on the caller's tenant.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.gateway.domain.accounts import KeyView, PrincipalView
from services.gateway.domain.keys import KeyRecord
from services.gateway.ports import ApiKeys, Principals
from services.gateway.store.tables import api_keys, principals
from services.kernel.principals import Actor, Principal, PrincipalKind, Role, Scope

_KEY_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.tenant_id,
    api_keys.c.secret_sha256,
    api_keys.c.scopes,
    api_keys.c.display_name,
    api_keys.c.issue_time,
    api_keys.c.revoke_time,
    principals.c.principal_id,
    principals.c.kind,
    principals.c.roles,
)
_KEYS = select(*_KEY_COLUMNS).join(
    principals,
    (principals.c.tenant_id == api_keys.c.tenant_id)
    & (principals.c.principal_id == api_keys.c.principal_id),
)


def _principal(row: Row[Any, *tuple[Any, ...]]) -> Principal:
    return Principal(
        row.tenant_id,
        Actor(row.principal_id, PrincipalKind(row.kind)),
        frozenset(Role(r) for r in row.roles.split()),
    )


def _scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split())


def _record(row: Row[Any, *tuple[Any, ...]]) -> KeyRecord:
    return KeyRecord(
        row.key_id,
        row.secret_sha256,
        _scopes(row.scopes),
        _principal(row),
        row.revoke_time is not None,
    )


def _key_view(row: Row[Any, *tuple[Any, ...]]) -> KeyView:
    return KeyView(
        row.key_id,
        _principal(row),
        _scopes(row.scopes),
        row.display_name,
        row.issue_time,
        row.revoke_time,
    )


def _principal_view(row: Row[Any, *tuple[Any, ...]]) -> PrincipalView:
    return PrincipalView(_principal(row), row.display_name, row.create_time)


class SqlApiKeys(ApiKeys):
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, key_ids: Collection[str]) -> dict[str, KeyRecord]:
        if not key_ids:
            return {}
        rows = self.session.execute(_KEYS.where(api_keys.c.key_id.in_(list(key_ids))))
        return {r.key_id: _record(r) for r in rows}

    def active(self) -> list[KeyRecord]:
        rows = self.session.execute(_KEYS.where(api_keys.c.revoke_time.is_(None)))
        return [_record(r) for r in rows]

    def get(self, tenant_id: str, key_id: str) -> KeyView | None:
        row = self.session.execute(
            _KEYS.where(api_keys.c.key_id == key_id, api_keys.c.tenant_id == tenant_id)
        ).one_or_none()
        return _key_view(row) if row is not None else None

    def list(self, tenant_id: str, principal_id: str, after: str, limit: int) -> list[KeyView]:
        query = _KEYS.where(api_keys.c.tenant_id == tenant_id, api_keys.c.key_id > after)
        if principal_id:
            query = query.where(api_keys.c.principal_id == principal_id)
        rows = self.session.execute(query.order_by(api_keys.c.key_id).limit(limit))
        return [_key_view(r) for r in rows]


class SqlPrincipals(Principals):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, tenant_id: str, principal_id: str) -> PrincipalView | None:
        row = self.session.execute(
            select(principals).where(
                principals.c.tenant_id == tenant_id, principals.c.principal_id == principal_id
            )
        ).one_or_none()
        return _principal_view(row) if row is not None else None

    def list(self, tenant_id: str, after: str, limit: int) -> list[PrincipalView]:
        rows = self.session.execute(
            select(principals)
            .where(principals.c.tenant_id == tenant_id, principals.c.principal_id > after)
            .order_by(principals.c.principal_id)
            .limit(limit)
        )
        return [_principal_view(r) for r in rows]
