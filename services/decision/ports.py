"""The decision service's unit of work: the kernel's port plus its own repositories.

Handlers take `DecisionUnitOfWork`; `store.unit_of_work` adapts it to SQLAlchemy and
`store.memory` keeps it in memory for unit tests, and one contract suite holds both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime

from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.decisions import Decision, Outcome, OutcomeKind, TrainingRow
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

    @abstractmethod
    def list(
        self, tenant_id: str, model_name: str, after: tuple[str, str] | None, limit: int
    ) -> list[ModelVersion]:
        """Up to `limit` versions (of `model_name`, or of every model when empty) ordered by
        (model name, version), those after `after` only."""


class DecisionLog(ABC):
    """The decisions made, the outcomes joined to them, and how often each action was
    returned (per profile and in all) with the positives it collected."""

    @abstractmethod
    def exposures(
        self, tenant_id: str, profile_id: str, action_ids: Sequence[str]
    ) -> dict[str, Exposures]:
        """Counts of the given actions (absent: never returned); one index seek each."""

    @abstractmethod
    def logged(self, tenant_id: str, decision_ids: Sequence[str]) -> set[str]:
        """Those of the decisions already in the log."""

    @abstractmethod
    def add(self, tenant_id: str, decisions: Sequence[Decision]) -> list[ExposureCount]:
        """Logs the tenant's decisions not logged before (the handler checks that), counting
        each returned action in all and for its profile; the counters it changed, after."""

    @abstractmethod
    def outcome_of(self, tenant_id: str, decision_id: str, action_id: str) -> OutcomeKind | None:
        """The heaviest outcome held; KeyError when the decision did not return the action."""

    @abstractmethod
    def record_outcome(self, outcome: Outcome, first_positive: bool) -> list[ExposureCount]:
        """Keeps the outcome on the decided action; a first positive counts for its action
        (the counter it changed, after)."""

    @abstractmethod
    def forget(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        """Deletes the profiles' decisions and their counts (GDPR erasure); how many
        decisions. What actions were returned in all stays: it names no one."""

    @abstractmethod
    def training_rows(self, tenant_id: str) -> Iterator[TrainingRow]:
        """Every returned action of the tenant's decisions, oldest first, rank order."""


class DecisionUnitOfWork(AbstractUnitOfWork):
    features: ProfileCopies[ProfileFeatures]
    models: ModelVersions
    assets: AssetRepository
    decisions: DecisionLog
