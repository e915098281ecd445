"""The decision service's unit of work: the kernel's port plus its own repositories.

Handlers take `DecisionUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy and
`store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import ModelVersion
from services.kernel.assets.repository import AssetRepository
from services.kernel.profile_copies import ProfileCopies
from services.kernel.unit_of_work import AbstractUnitOfWork


class ModelVersions(ABC):
    """Registered ONNX files with their signatures; a version is written once, never changed."""

    @abstractmethod
    def add(self, model: ModelVersion, content: bytes, at: datetime) -> None:
        """Stores a version not held before (the handler checks that)."""

    @abstractmethod
    def get(self, tenant_id: str, model_name: str, version: str) -> ModelVersion | None: ...

    @abstractmethod
    def content(self, tenant_id: str, model_name: str, version: str) -> bytes | None:
        """The ONNX bytes of a version, read apart from its signature (they can be large)."""


class DecisionUnitOfWork(AbstractUnitOfWork):
    features: ProfileCopies[ProfileFeatures]
    models: ModelVersions
    assets: AssetRepository
