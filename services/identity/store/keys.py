"""The per-profile keys, and each tenant's identifier hash key (store/tenant_keys.py), in
their own database (`LAYERCAKE_IDENTITY_KEYS_URL`).

Kept apart from the data they protect, so a backup of the event database alone never
holds them; deleting a profile's key forgets the person. Keys are written in their
own short transaction, committed before the events they seal are: a key without
events is harmless, events without a key would be unreadable. That write runs on the
store's own thread while the unit of work appends and projects its events, so its
fsync costs the batch no time of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, Engine, LargeBinary, MetaData, String, Table, delete, inspect, select

from services.identity.ports import PersonalDataVault
from services.identity.store.vault import ProfileCipher, new_key
from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.kernel.store.schema import UtcDateTime

MIGRATIONS = Path(__file__).parent / "key_migrations"

metadata = MetaData()

# One data key per profile; deleting the row forgets the person.
profile_keys = Table(
    "profile_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("profile_id", String(64), primary_key=True),
    Column("data_key", LargeBinary, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
)

# Each tenant's key for the keyed hash of matching identifiers; never changed once written.
tenant_keys = Table(
    "tenant_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("hash_key", LargeBinary, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
)
ADOPTED = (profile_keys, tenant_keys)  # tables the identity database once held


class SqlProfileKeys(PersonalDataVault):
    """The key table on its own engine, with the ciphers of recent profiles cached
    (one key read per profile, not per event)."""

    def __init__(self, db: Database, cache_size: int = 10_000) -> None:
        self.db = db
        self.cache_size = cache_size
        self._ciphers: OrderedDict[tuple[str, str], ProfileCipher] = OrderedDict()
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="profile-keys")
        self._writing: dict[tuple[str, str], ProfileCipher] = {}  # keys not committed yet

    @classmethod
    def open(cls, url: str, cache_size: int = 10_000) -> SqlProfileKeys:
        """The store at `url`, migrated (safe at every start)."""
        db = Database(url, workers=2)
        migrate(db.engine, MIGRATIONS, kernel=False)
        return cls(db, cache_size)

    def cipher(self, tenant_id: str, profile_id: str) -> ProfileCipher | None:
        at = (tenant_id, profile_id)
        with self._lock:
            if at in self._ciphers:
                self._ciphers.move_to_end(at)
                return self._ciphers[at]
            if at in self._writing:
                return self._writing[at]
        with self.db.read_sessions() as session, session.begin():
            key = session.execute(
                select(profile_keys.c.data_key).where(
                    profile_keys.c.tenant_id == tenant_id, profile_keys.c.profile_id == profile_id
                )
            ).scalar_one_or_none()
        return None if key is None else self.remember(at, ProfileCipher(key, *at))

    def create_key(self, tenant_id: str, profile_id: str, at: datetime) -> ProfileCipher:
        key = new_key()
        self.store_keys([(tenant_id, profile_id, key, at)])
        return self.remember((tenant_id, profile_id), ProfileCipher(key, tenant_id, profile_id))

    def store_keys(self, keys: Sequence[tuple[str, str, bytes, datetime]]) -> None:
        """Writes new profiles' keys (tenant, profile id, key, time) in one transaction."""
        if not keys:
            return
        with self.db.transaction() as session:
            session.execute(
                profile_keys.insert(),
                [
                    {"tenant_id": t, "profile_id": p, "data_key": k, "create_time": at}
                    for t, p, k, at in keys
                ],
            )

    def store_soon(
        self, made: dict[tuple[str, str], tuple[bytes, datetime, ProfileCipher]]
    ) -> Future[None]:
        """Writes new profiles' keys ((tenant, profile id) -> key, time, cipher) on the
        store's writer thread, while the caller goes on; their ciphers are found at once
        (the caller's projections seal with them before the write is done; a cipher whose
        key is never written seals only what is never committed)."""
        with self._lock:
            self._writing |= {at: cipher for at, (_, _, cipher) in made.items()}

        def write() -> None:
            self.store_keys([(t, p, key, at) for (t, p), (key, at, _) in made.items()])
            for at, (_, _, cipher) in made.items():
                self.remember(at, cipher)
            self.abandon(made)

        return self._writer.submit(write)

    def abandon(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forgets keys `store_soon` was given (written now, or whose write failed)."""
        with self._lock:
            for at in keys:
                self._writing.pop(at, None)

    def delete_keys(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        with self._lock:
            for profile_id in profile_ids:
                cipher = self._ciphers.pop((tenant_id, profile_id), None)
                if cipher is not None:
                    cipher.forget()
        with self.db.transaction() as session:
            deleted = session.execute(
                delete(profile_keys)
                .where(
                    profile_keys.c.tenant_id == tenant_id,
                    profile_keys.c.profile_id.in_(list(profile_ids)),
                )
                .returning(profile_keys.c.profile_id)
            ).all()
        self.db.truncate_wal()  # the WAL's copies of the key's pages go too
        return len(deleted)

    def adopt(self, engine: Engine) -> int:
        """Copies keys still in `engine`'s own `profile_keys` and `tenant_keys` (kept there
        before the keys had their own store) here, and returns how many; identity's
        migrations then drop those tables (the copy is committed first)."""
        copied = 0
        for table in ADOPTED:
            if not inspect(engine).has_table(table.name):
                continue
            with engine.connect() as source:
                rows = [dict(r._mapping) for r in source.execute(select(table))]
            if rows:
                with self.db.transaction() as session:
                    dialect = session.get_bind().dialect.name
                    session.execute(insert_unless_conflict(table, dialect), rows)
            copied += len(rows)
        return copied

    def remember(self, at: tuple[str, str], cipher: ProfileCipher) -> ProfileCipher:
        if self.cache_size:
            with self._lock:
                self._ciphers[at] = cipher
                self._ciphers.move_to_end(at)
                while len(self._ciphers) > self.cache_size:
                    self._ciphers.popitem(last=False)
        return cipher

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.db.dispose()


class NewKeys(PersonalDataVault):
    """A unit of work's view of the key store: new profiles' keys are made at once but
    written together, one key-store transaction per flush (not one per new profile):
    `flush()` starts it on the store's writer thread, `stored()` waits for it, which the
    unit of work does before it commits anything they seal."""

    def __init__(self, keys: SqlProfileKeys) -> None:
        self.keys = keys
        self._new: dict[tuple[str, str], tuple[bytes, datetime, ProfileCipher]] = {}
        self._writes: list[tuple[Future[None], list[tuple[str, str]]]] = []

    def create_key(self, tenant_id: str, profile_id: str, at: datetime) -> ProfileCipher:
        key = new_key()
        cipher = ProfileCipher(key, tenant_id, profile_id)
        self._new[(tenant_id, profile_id)] = (key, at, cipher)
        return cipher

    def cipher(self, tenant_id: str, profile_id: str) -> ProfileCipher | None:
        new = self._new.get((tenant_id, profile_id))
        return new[2] if new is not None else self.keys.cipher(tenant_id, profile_id)

    def delete_keys(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        self.flush()
        self.stored()
        return self.keys.delete_keys(tenant_id, profile_ids)

    def flush(self) -> None:
        """Starts writing the keys made since the last flush (a key without events is
        harmless)."""
        if self._new:
            new, self._new = self._new, {}
            self._writes.append((self.keys.store_soon(new), list(new)))

    def stored(self) -> None:
        """Waits until the keys written so far are committed (raising a write's error)."""
        writes, self._writes = self._writes, []
        try:
            for write, _ in writes:
                write.result()
        finally:
            for _, keys in writes:  # those written are in the cache
                self.keys.abandon(keys)

    def end(self) -> None:
        """The unit of work is over: keys not written yet are dropped, and those being
        written are waited for (a key without events is harmless; whatever failed was
        raised by `stored()` already, or the unit of work did not commit)."""
        self._new = {}
        with contextlib.suppress(Exception):
            self.stored()
