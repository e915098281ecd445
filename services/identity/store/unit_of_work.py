"""Identity's unit of work on SQLAlchemy: the kernel's, plus its repositories.

The per-profile keys live in their own store (store/keys.py), not on this session: a
process binds it once with `with_keys`, and every unit of work of that class uses it.
"""

from __future__ import annotations

from typing import ClassVar

from services.identity.ports import IdentityUnitOfWork, PersonalDataVault
from services.identity.store.audiences import SqlAudienceMembers, SqlBackfills
from services.identity.store.forgetting import SqlForgetting
from services.identity.store.profiles import SqlProfileRepository
from services.identity.store.tenant_keys import SqlTenantKeys
from services.identity.store.windows import SqlComputedWindows
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.store.unit_of_work import UnitOfWork


class SqlIdentityUnitOfWork(UnitOfWork, IdentityUnitOfWork):
    keys: ClassVar[PersonalDataVault | None] = None

    @classmethod
    def with_keys(cls, keys: PersonalDataVault) -> type[SqlIdentityUnitOfWork]:
        """This unit of work bound to the process's key store."""
        return type(cls.__name__, (cls,), {"keys": keys})

    def attach_repositories(self) -> None:
        if self.keys is None:
            raise TypeError("SqlIdentityUnitOfWork needs its key store: use with_keys(keys)")
        self.vault = self.keys
        self.profiles = SqlProfileRepository(self, self.vault)
        self.tenant_keys = SqlTenantKeys(self.session)
        self.forgetting = SqlForgetting(self.session)
        self.assets = SqlAssetRepository(self)
        self.computed_windows = SqlComputedWindows(self)
        self.audience_members = SqlAudienceMembers(self.session)
        self.backfills = SqlBackfills(self)
