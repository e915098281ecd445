"""Arbitration: eligible actions ranked by propensity x value x context weight x lever,
with seeded exploration so that new and under-scored actions are tried.

Exploration is drawn from a generator keyed by (tenant, profile, placement, seed), so the
same request with the same seed gets the same answer. Epsilon-greedy puts an action drawn
at random first in an `epsilon` share of decisions; cold start gives each new action
(fewer positives than the placement's threshold) a share of first places that grows with
every positive outcome it collects, so a new offer is not starved by the model. Pure.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from services.decision.domain.transforms import FeatureSet

MAX_COLD_START_SHARE = 0.5


@dataclass(frozen=True)
class Placement:
    """How a placement decides (the content of its `placement` asset)."""

    placement_id: str
    model_name: str = ""
    features: FeatureSet = field(default_factory=FeatureSet)
    epsilon: float = 0.0
    cold_start_share: float = 0.0
    cold_start_positives: int = 0
    levers: Mapping[str, float] = field(default_factory=dict)
    max_actions: int = 1
    change_version: int = 0


@dataclass(frozen=True)
class Scored:
    """An eligible action with the parts of its score and why."""

    action_id: str
    propensity: float
    value: float
    context_weight: float
    lever: float
    positives: int = 0
    reasons: tuple[str, ...] = ()
    explored: bool = False
    channel: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.propensity * self.value * self.context_weight * self.lever


def exploration(tenant_id: str, profile_id: str, placement: str, seed: int) -> random.Random:
    """The generator of one decision's draws: the same inputs, the same draws."""
    key = "\x1f".join((tenant_id, profile_id, placement, str(seed))).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def cold_start_share(policy: Placement, positives: int) -> float:
    """A new action's share of first places: the base share, times one plus its positives
    (bounded); none once it has collected the placement's threshold of positives."""
    if not policy.cold_start_share or positives >= policy.cold_start_positives:
        return 0.0
    return min(MAX_COLD_START_SHARE, policy.cold_start_share * (1 + positives))


def arbitrate(
    candidates: Sequence[Scored], policy: Placement, draws: random.Random, max_actions: int
) -> list[Scored]:
    """The top `max_actions` by score (ties by id), one of them maybe moved first by
    exploration, which says so in its reasons."""
    ranked = sorted(candidates, key=lambda c: (-c.score, c.action_id))
    if not ranked:
        return []
    explored = _explore(ranked, policy, draws)
    if explored is not None:
        ranked.remove(explored[0])
        ranked.insert(
            0, replace(explored[0], explored=True, reasons=(*explored[0].reasons, explored[1]))
        )
    return ranked[:max_actions]


def _explore(
    ranked: list[Scored], policy: Placement, draws: random.Random
) -> tuple[Scored, str] | None:
    # Both draws are always taken, so a change of policy moves no other decision's draws.
    greedy, cold = draws.random(), draws.random()
    pick = draws.randrange(len(ranked))
    if greedy < policy.epsilon:
        return ranked[pick], f"explored: epsilon-greedy (epsilon {policy.epsilon:g})"
    edge = 0.0
    for candidate in ranked:
        share = cold_start_share(policy, candidate.positives)
        edge += share
        if share and cold < edge:
            return candidate, (
                f"explored: cold start (share {share:g} after {candidate.positives} positives)"
            )
    return None
