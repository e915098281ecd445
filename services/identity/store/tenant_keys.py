"""Each tenant's key for hashing matching identifiers, kept in identity's key store.

HMAC-SHA-256 with a secret per tenant: without the key, a leaked identifier table
cannot be reversed by hashing a dictionary of emails, and two tenants' digests of
the same email differ, so nothing links a person across tenants. The key lives in the
key store (`LAYERCAKE_IDENTITY_KEYS_URL`) beside the per-profile keys, apart from the
digests it makes: a backup of the event database alone cannot be reversed either.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from datetime import datetime

from sqlalchemy import select

from services.identity.domain.identifiers import Hasher
from services.identity.ports import TenantKeys
from services.identity.store.keys import tenant_keys
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.database import Database

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
    """The key store's `tenant_keys`, each key read once per process (it never changes), its
    hasher (with the digests it remembers) shared by the process's units of work. A new key
    is written in the store's own short transaction, before any digest it makes is: a key
    without digests is harmless, digests without their key would match nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hashers: dict[str, Hasher] = {}
        self._lock = threading.Lock()

    def _hasher(self, tenant_id: str) -> Hasher | None:
        with self._lock:
            if (known := self._hashers.get(tenant_id)) is not None:
                return known
        with self.db.read_sessions() as session, session.begin():
            key = session.execute(
                select(tenant_keys.c.hash_key).where(tenant_keys.c.tenant_id == tenant_id)
            ).scalar_one_or_none()
        if key is None:
            return None
        with self._lock:
            return self._hashers.setdefault(tenant_id, keyed_hasher(key))

    def hasher(self, tenant_id: str, now: datetime) -> Hasher:
        hasher = self._hasher(tenant_id)
        if hasher is None:
            with self.db.transaction() as session:  # a racing replica's key wins
                dialect = session.get_bind().dialect.name
                session.execute(
                    insert_unless_conflict(tenant_keys, dialect),
                    {"tenant_id": tenant_id, "hash_key": new_key(), "create_time": now},
                )
            hasher = self._hasher(tenant_id)
            assert hasher is not None, "inserted or already there"
        return hasher

    def existing(self, tenant_id: str) -> Hasher | None:
        return self._hasher(tenant_id)
