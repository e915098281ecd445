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
from services.identity.ports import TenantKeys
from services.identity.store.tables import tenant_keys
from services.kernel.store.conflicts import insert_unless_conflict

KEY_BYTES = 32
REMEMBERED = 4096  # digests a hasher keeps: more than a consumer batch hashes


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def keyed_hasher(key: bytes) -> Hasher:
    """The tenant's hash; it remembers its latest digests (a batch hashes each identifier
    twice: for its bulk reads, then resolving)."""
    known: dict[str, str] = {}

    def digest(value: str) -> str:
        found = known.get(value)
        if found is None:
            if len(known) >= REMEMBERED:
                known.clear()
            found = known[value] = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        return found

    return digest


class SqlTenantKeys(TenantKeys):
    """The `tenant_keys` table, in the caller's transaction, read once per process: a key
    never changes once committed, so `known` (shared by the process's units of work) keeps
    those read as already there, never one this transaction made (it may roll back)."""

    def __init__(self, session: Session, known: dict[str, bytes]) -> None:
        self.session = session
        self.known = known
        self._made: dict[str, bytes] = {}  # read after this transaction inserted it
        self._hashers: dict[str, Hasher] = {}  # this transaction's, by tenant

    def _key(self, tenant_id: str) -> bytes | None:
        if key := self.known.get(tenant_id) or self._made.get(tenant_id):
            return key
        key = self.session.execute(
            select(tenant_keys.c.hash_key).where(tenant_keys.c.tenant_id == tenant_id)
        ).scalar_one_or_none()
        if key is not None:
            (self._made if tenant_id in self._made else self.known)[tenant_id] = key
        return key

    def hasher(self, tenant_id: str, now: datetime) -> Hasher:
        if (known := self._hashers.get(tenant_id)) is not None:
            return known
        key = self._key(tenant_id)
        if key is None:
            self._made[tenant_id] = b""  # falsy: read back below, then kept for this one
            self.session.execute(
                insert_unless_conflict(tenant_keys, self.session.get_bind().dialect.name),
                {"tenant_id": tenant_id, "hash_key": new_key(), "create_time": now},
            )
            key = self._key(tenant_id)
            assert key is not None, "inserted or already there"
        hasher = self._hashers[tenant_id] = keyed_hasher(key)
        return hasher

    def existing(self, tenant_id: str) -> Hasher | None:
        if (known := self._hashers.get(tenant_id)) is not None:
            return known
        key = self._key(tenant_id)
        if key is None:
            return None
        hasher = self._hashers[tenant_id] = keyed_hasher(key)
        return hasher
