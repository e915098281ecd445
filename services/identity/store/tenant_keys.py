"""Each tenant's key for hashing matching identifiers, kept in identity's key store.

HMAC-SHA-256 with a secret per tenant: without the key, a leaked identifier table
cannot be reversed by hashing a dictionary of emails, and two tenants' digests of
the same email differ, so nothing links a person across tenants.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.domain.identifiers import Hasher
from services.identity.store.tables import tenant_keys
from services.kernel.store.conflicts import insert_unless_conflict

KEY_BYTES = 32


def _hasher(key: bytes) -> Hasher:
    def digest(value: str) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    return digest


def _key(session: Session, tenant_id: str) -> bytes | None:
    return session.execute(
        select(tenant_keys.c.hash_key).where(tenant_keys.c.tenant_id == tenant_id)
    ).scalar_one_or_none()


def tenant_hasher(session: Session, tenant_id: str, now: datetime) -> Hasher:
    """The tenant's hasher, its key made on first use (a racing writer's key wins for both)."""
    key = _key(session, tenant_id)
    if key is None:
        session.execute(
            insert_unless_conflict(tenant_keys, session.get_bind().dialect.name),
            {"tenant_id": tenant_id, "hash_key": os.urandom(KEY_BYTES), "create_time": now},
        )
        key = _key(session, tenant_id)
        assert key is not None, "inserted or already there"
    return _hasher(key)


def existing_hasher(session: Session, tenant_id: str) -> Hasher | None:
    """For reads: None when the tenant has no key yet, so holds no hashed identifier."""
    key = _key(session, tenant_id)
    return None if key is None else _hasher(key)
