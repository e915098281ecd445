"""The decision service's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import ModelVersion
from services.decision.ports import DecisionUnitOfWork, ModelVersions
from services.kernel.assets.memory import UnitOfWorkAssets
from services.kernel.clock import Clock
from services.kernel.store.memory import (
    InMemoryDatabase,
    InMemoryUnitOfWork,
    MemoryProfileCopies,
    MemoryState,
)

ModelKey = tuple[str, str, str]  # tenant, model name, version


@dataclass
class DecisionState(MemoryState):
    features: dict[tuple[str, str], ProfileFeatures] = field(default_factory=dict)
    models: dict[ModelKey, tuple[ModelVersion, bytes]] = field(default_factory=dict)


class MemoryModelVersions(ModelVersions):
    def __init__(self, table: Callable[[], dict[ModelKey, tuple[ModelVersion, bytes]]]) -> None:
        self.table = table

    def add(self, model: ModelVersion, content: bytes, at: datetime) -> None:
        key = (model.tenant_id, model.model_name, model.version)
        if key in self.table():
            raise ValueError(f"model version {key} is already held")  # as the primary key does
        self.table()[key] = (model, content)

    def get(self, tenant_id: str, model_name: str, version: str) -> ModelVersion | None:
        found = self.table().get((tenant_id, model_name, version))
        return None if found is None else found[0]

    def content(self, tenant_id: str, model_name: str, version: str) -> bytes | None:
        found = self.table().get((tenant_id, model_name, version))
        return None if found is None else found[1]


class InMemoryDecisionUnitOfWork(InMemoryUnitOfWork[DecisionState], DecisionUnitOfWork):
    def attach_repositories(self) -> None:
        self.features = MemoryProfileCopies(lambda: self.state.features, "profile_features")
        self.models = MemoryModelVersions(lambda: self.state.models)
        self.assets = UnitOfWorkAssets(self)


def in_memory(clock: Clock) -> InMemoryDatabase[DecisionState]:
    return InMemoryDatabase(DecisionState(), clock)
