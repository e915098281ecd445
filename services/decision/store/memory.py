"""The decision service's unit of work in memory, for handlers' unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.decisions import Decision, Outcome, OutcomeKind, TrainingRow
from services.decision.domain.features import ProfileFeatures
from services.decision.domain.models import ModelVersion
from services.decision.ports import DecisionLog, DecisionUnitOfWork, ModelVersions
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
    decisions: list[Decision] = field(default_factory=list)
    # (tenant, decision, action) -> (outcome, time)
    outcomes: dict[tuple[str, str, str], Outcome] = field(default_factory=dict)
    # (tenant, action, profile or "" for all) -> exposures
    exposures: dict[tuple[str, str, str], Exposures] = field(default_factory=dict)


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

    def list(
        self, tenant_id: str, model_name: str, after: tuple[str, str] | None, limit: int
    ) -> list[ModelVersion]:
        keys = sorted(
            (name, version)
            for tenant, name, version in self.table()
            if tenant == tenant_id
            and model_name in ("", name)
            and (after is None or (name, version) > after)
        )
        return [self.table()[(tenant_id, *k)][0] for k in keys[:limit]]


class MemoryDecisionLog(DecisionLog):
    def __init__(self, state: Callable[[], DecisionState]) -> None:
        self.state = state

    def exposures(
        self, tenant_id: str, profile_id: str, action_ids: Sequence[str]
    ) -> dict[str, Exposures]:
        held = self.state().exposures
        found = {}
        for action_id in action_ids:
            total = held.get((tenant_id, action_id, ""))
            mine = held.get((tenant_id, action_id, profile_id))
            if total is not None or mine is not None:
                total = total or Exposures()
                found[action_id] = replace(total, to_profile=mine.total if mine else 0)
        return found

    def logged(self, tenant_id: str, decision_ids: Sequence[str]) -> set[str]:
        wanted = set(decision_ids)
        return {
            d.decision_id
            for d in self.state().decisions
            if d.tenant_id == tenant_id and d.decision_id in wanted
        }

    def add(self, tenant_id: str, batch: Sequence[Decision]) -> list[ExposureCount]:
        state = self.state()
        changed: dict[tuple[str, str], None] = {}
        for decision in batch:
            if self._decision(tenant_id, decision.decision_id) is not None:
                raise ValueError(f"decision {decision.decision_id} is already logged")
            state.decisions.append(decision)
            for action in decision.actions:
                for profile_id in ("", decision.command.profile_id):
                    key = (tenant_id, action.action_id, profile_id)
                    held = state.exposures.get(key, Exposures())
                    state.exposures[key] = replace(held, total=held.total + 1)
                    changed[(action.action_id, profile_id)] = None
        return [self._counter(tenant_id, a, p) for a, p in changed]

    def _counter(self, tenant_id: str, action_id: str, profile_id: str) -> ExposureCount:
        held = self.state().exposures[(tenant_id, action_id, profile_id)]
        return ExposureCount(action_id, profile_id, held.total, held.positives)

    def _decision(self, tenant_id: str, decision_id: str) -> Decision | None:
        return next(
            (
                d
                for d in self.state().decisions
                if d.tenant_id == tenant_id and d.decision_id == decision_id
            ),
            None,
        )

    def outcome_of(self, tenant_id: str, decision_id: str, action_id: str) -> OutcomeKind | None:
        decision = self._decision(tenant_id, decision_id)
        if decision is None or action_id not in {a.action_id for a in decision.actions}:
            raise KeyError((decision_id, action_id))
        held = self.state().outcomes.get((tenant_id, decision_id, action_id))
        return None if held is None else held.kind

    def record_outcome(self, outcome: Outcome, first_positive: bool) -> list[ExposureCount]:
        state = self.state()
        state.outcomes[(outcome.tenant_id, outcome.decision_id, outcome.action_id)] = outcome
        if not first_positive:
            return []
        key = (outcome.tenant_id, outcome.action_id, "")
        held = state.exposures.get(key, Exposures())
        state.exposures[key] = replace(held, positives=held.positives + 1)
        return [self._counter(outcome.tenant_id, outcome.action_id, "")]

    def forget(self, tenant_id: str, profile_ids: Sequence[str]) -> int:
        state, gone = self.state(), set(profile_ids)
        forgotten = {
            d.decision_id
            for d in state.decisions
            if d.tenant_id == tenant_id and d.command.profile_id in gone
        }
        state.decisions = [
            d
            for d in state.decisions
            if not (d.tenant_id == tenant_id and d.decision_id in forgotten)
        ]
        for key in [k for k in state.outcomes if k[0] == tenant_id and k[1] in forgotten]:
            del state.outcomes[key]
        for key in [k for k in state.exposures if k[0] == tenant_id and k[2] in gone]:
            del state.exposures[key]
        return len(forgotten)

    def training_rows(self, tenant_id: str) -> Iterator[TrainingRow]:
        state = self.state()
        mine = [d for d in state.decisions if d.tenant_id == tenant_id]
        for d in sorted(mine, key=lambda d: (d.decide_time, d.decision_id)):
            for rank, a in enumerate(d.actions, start=1):
                outcome = state.outcomes.get((tenant_id, d.decision_id, a.action_id))
                yield TrainingRow(
                    decision_id=d.decision_id,
                    decide_time=d.decide_time,
                    profile_id=d.command.profile_id,
                    placement=d.command.placement,
                    action_id=a.action_id,
                    rank=rank,
                    explored=a.explored,
                    model_name=d.model.name,
                    model_version=d.model.version,
                    propensity=a.propensity,
                    score=a.score,
                    outcome=None if outcome is None else outcome.kind,
                    features=dict(d.rows.get(a.action_id, {})),
                )


class InMemoryDecisionUnitOfWork(InMemoryUnitOfWork[DecisionState], DecisionUnitOfWork):
    def attach_repositories(self) -> None:
        self.features = MemoryProfileCopies(lambda: self.state.features, "profile_features")
        self.models = MemoryModelVersions(lambda: self.state.models)
        self.assets = UnitOfWorkAssets(self)
        self.decisions = MemoryDecisionLog(lambda: self.state)


def in_memory(clock: Clock) -> InMemoryDatabase[DecisionState]:
    return InMemoryDatabase(DecisionState(), clock)
