"""The decision service's unit of work on SQLAlchemy: the kernel's, plus its repositories."""

from __future__ import annotations

from services.decision.ports import DecisionUnitOfWork
from services.decision.store.decisions import SqlDecisionLog
from services.decision.store.features import sql_features
from services.decision.store.models import SqlModelVersions
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.store.unit_of_work import UnitOfWork


class SqlDecisionUnitOfWork(UnitOfWork, DecisionUnitOfWork):
    def attach_repositories(self) -> None:
        self.features = sql_features(self.session)
        self.models = SqlModelVersions(self.session)
        self.assets = SqlAssetRepository(self)
        self.decisions = SqlDecisionLog(self.session)
