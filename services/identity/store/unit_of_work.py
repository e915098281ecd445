"""Identity's unit of work on SQLAlchemy: the kernel's, plus its repositories."""

from __future__ import annotations

from services.identity.ports import IdentityUnitOfWork
from services.identity.store.audiences import SqlAudienceMembers, SqlBackfills
from services.identity.store.profiles import SqlProfileRepository
from services.identity.store.tenant_keys import SqlTenantKeys
from services.identity.store.vault import SqlPersonalDataVault
from services.identity.store.windows import SqlComputedWindows
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.store.unit_of_work import UnitOfWork


class SqlIdentityUnitOfWork(UnitOfWork, IdentityUnitOfWork):
    def attach_repositories(self) -> None:
        self.vault = SqlPersonalDataVault(self.session)
        self.profiles = SqlProfileRepository(self, self.vault)
        self.tenant_keys = SqlTenantKeys(self.session)
        self.assets = SqlAssetRepository(self)
        self.computed_windows = SqlComputedWindows(self)
        self.audience_members = SqlAudienceMembers(self.session)
        self.backfills = SqlBackfills(self)
