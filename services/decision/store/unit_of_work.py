"""The decision service's unit of work on SQLAlchemy: the kernel's, plus its repositories."""

from __future__ import annotations

from pathlib import Path

from services.decision.ports import DecisionUnitOfWork
from services.decision.store.decisions import SqlDecisionLog
from services.decision.store.features import sql_features
from services.decision.store.model_files import ModelFiles
from services.decision.store.models import SqlModelVersions
from services.kernel.assets.repository import SqlAssetRepository
from services.kernel.store.unit_of_work import UnitOfWork


class SqlDecisionUnitOfWork(UnitOfWork, DecisionUnitOfWork):
    model_files: ModelFiles | None = None  # None: model bytes in the store

    def attach_repositories(self) -> None:
        self.features = sql_features(self.session)
        self.models = SqlModelVersions(self.session, self.model_files)
        self.assets = SqlAssetRepository(self)
        self.decisions = SqlDecisionLog(self.session)


def decision_unit_of_work(model_dir: Path | None) -> type[SqlDecisionUnitOfWork]:
    """The unit of work keeping model bytes in `model_dir` (the store's when None)."""
    if model_dir is None:
        return SqlDecisionUnitOfWork
    files = ModelFiles(model_dir)
    return type("SqlDecisionUnitOfWork", (SqlDecisionUnitOfWork,), {"model_files": files})
