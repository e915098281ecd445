"""A decision as it is logged, its outcomes, and the training rows they make. Pure.

Every decision is recorded with its inputs (the context, the profile's feature version,
each returned action's feature row), the model version that scored it and its answer;
outcomes are joined back by decision id and action, so a training table says exactly
what the model saw and what followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from services.decision.domain.arbitration import Scored
from services.decision.domain.models import Stage
from services.decision.domain.transforms import Cell

MAX_ACTIONS = 50


class OutcomeKind(IntEnum):
    """What followed, ordered by weight: a decided action keeps the heaviest it got."""

    IMPRESSION = 1
    DISMISSED = 2
    CLICKED = 3
    CONVERTED = 4

    @property
    def positive(self) -> bool:
        return self >= OutcomeKind.CLICKED


@dataclass(frozen=True)
class DecideCommand:
    tenant_id: str
    profile_id: str
    placement: str
    context: Mapping[str, Any]
    max_actions: int = 0
    seed: int = 0
    request_id: str = ""
    # the context as the request carried it (a serialized Struct): the log's event copies
    # it rather than rebuilding the Struct from `context`; empty: rebuilt
    context_sent: bytes = b""

    @property
    def channel(self) -> str:
        channel = self.context.get("channel", "")
        return channel if isinstance(channel, str) else ""


@dataclass(frozen=True)
class ModelUsed:
    name: str = ""
    version: str = ""
    stage: Stage | None = None


@dataclass(frozen=True)
class VersionScore:
    """One model version's score of a candidate."""

    version: str
    stage: Stage
    score: float


@dataclass(frozen=True)
class Decision:
    decision_id: str
    command: DecideCommand
    decide_time: datetime
    profile_version: int
    model: ModelUsed
    fallback: bool
    actions: tuple[Scored, ...]
    excluded: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rows: Mapping[str, Mapping[str, Cell]] = field(default_factory=dict)  # by action id
    # by returned action id: the serving versions' scores not acted on (shadows, ...)
    shadow_scores: Mapping[str, tuple[VersionScore, ...]] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.command.tenant_id


@dataclass(frozen=True)
class Outcome:
    tenant_id: str
    decision_id: str
    action_id: str
    kind: OutcomeKind
    outcome_time: datetime


@dataclass(frozen=True)
class TrainingRow:
    """One returned action of one decision, with what the model saw and what followed."""

    decision_id: str
    decide_time: datetime
    profile_id: str
    placement: str
    action_id: str
    rank: int
    explored: bool
    model_name: str
    model_version: str
    propensity: float
    score: float
    outcome: OutcomeKind | None
    features: Mapping[str, Cell]

    @property
    def label(self) -> int:
        return int(self.outcome is not None and self.outcome.positive)
