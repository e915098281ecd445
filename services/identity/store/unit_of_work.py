"""Identity's unit of work on SQLAlchemy: the kernel's, plus its repositories.

The per-profile keys live in their own store (store/keys.py), not on this session: a
process binds it once with `with_keys`, and every unit of work of that class uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import ClassVar

from services.identity.ports import IdentityUnitOfWork
from services.identity.store.audiences import SqlAudienceMembers, SqlBackfills
from services.identity.store.forgetting import SqlForgetting
from services.identity.store.keys import NewKeys, SqlProfileKeys
from services.identity.store.profiles import SqlProfileRepository
from services.identity.store.tenant_keys import SqlTenantKeys
from services.identity.store.windows import SqlComputedWindows
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.store.unit_of_work import UnitOfWork


class SqlIdentityUnitOfWork(UnitOfWork, IdentityUnitOfWork):
    keys: ClassVar[SqlProfileKeys | None] = None
    hash_keys: ClassVar[SqlTenantKeys | None] = None  # in the key store, read once each

    @classmethod
    def with_keys(cls, keys: SqlProfileKeys) -> type[SqlIdentityUnitOfWork]:
        """This unit of work bound to the process's key store: the profiles' keys and the
        tenants' hash keys."""
        return type(cls.__name__, (cls,), {"keys": keys, "hash_keys": SqlTenantKeys(keys.db)})

    def attach_repositories(self) -> None:
        if self.keys is None or self.hash_keys is None:
            raise TypeError("SqlIdentityUnitOfWork needs its key store: use with_keys(keys)")
        self.vault = self.new_keys = NewKeys(self.keys)
        self.profiles = self.sql_profiles = SqlProfileRepository(self, self.vault)
        self.tenant_keys = self.hash_keys
        self.forgetting = self.sql_forgetting = SqlForgetting(self.session)
        self.assets = SqlAssetRepository(self)
        self.computed_windows = SqlComputedWindows(self)
        self.audience_members = SqlAudienceMembers(self.session)
        self.backfills = SqlBackfills(self)

    def flush(self) -> None:
        """New profiles' keys first (written in their own store meanwhile), then the kernel's
        appends and outbox, then what forgetting buffered."""
        self.new_keys.flush()
        super().flush()
        self.sql_forgetting.flush()

    def commit(self) -> None:
        """The new keys are committed in their store before the events they seal."""
        self.flush()
        self.new_keys.stored()
        super().commit()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """What the repositories remember of this transaction goes with a failed block."""
        try:
            with super().savepoint():
                yield
        except BaseException:
            self._forget_cached()
            raise

    def rollback(self) -> None:
        self._forget_cached()
        super().rollback()

    def _forget_cached(self) -> None:
        self.sql_profiles.forget_cached()
        self.sql_forgetting.discard()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self.new_keys.end()  # no key write outlives the unit of work
