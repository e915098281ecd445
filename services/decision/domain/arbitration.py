"""Arbitration: eligible actions ranked by propensity x value x context weight x lever,
with seeded exploration so that new and under-scored actions are tried.

Exploration is drawn from a generator keyed by (tenant, profile, placement, seed), so the
same request with the same seed gets the same answer. Epsilon-greedy puts an action drawn
at random first in an `epsilon` share of decisions; Thompson sampling ranks each decision
on propensities drawn from Beta(1 + p n, 1 + (1 - p) n), p the model's propensity and n
the decisions that returned the action (its evidence, at most `MAX_EVIDENCE`): wide for an
action little served, so it gets tried, and close to the model's for one served often.
Cold start gives each new action (fewer positives than the placement's threshold) a share
of first places that grows with every positive outcome it collects, so a new offer is not
starved by the model. Pure.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from services.decision.domain.transforms import FeatureSet

MAX_COLD_START_SHARE = 0.5
MAX_EVIDENCE = 1000  # decisions after which Thompson sampling's draw narrows no further
EPSILON_GREEDY, THOMPSON_SAMPLING = "epsilon_greedy", "thompson_sampling"


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
    exploration: str = EPSILON_GREEDY  # or THOMPSON_SAMPLING


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
    served: int = 0  # decisions that returned it so far (Thompson sampling's evidence)
    drawn: float | None = None  # the propensity Thompson sampling drew, ranked on

    @property
    def score(self) -> float:
        propensity = self.propensity if self.drawn is None else self.drawn
        return propensity * self.value * self.context_weight * self.lever


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
    if not candidates:
        return []
    # These draws are always taken first, so a change of policy moves no other draw.
    greedy, cold = draws.random(), draws.random()
    pick = draws.randrange(len(candidates))
    thompson = policy.exploration == THOMPSON_SAMPLING
    ranked = sorted(_thompson(candidates, draws) if thompson else candidates, key=_rank)
    explored = None
    if not thompson and greedy < policy.epsilon:
        explored = ranked[pick], f"explored: epsilon-greedy (epsilon {policy.epsilon:g})"
    else:
        explored = _cold_start(ranked, policy, cold)
    if explored is None and thompson:
        best = min(candidates, key=_rank)
        if ranked[0].action_id != best.action_id:
            explored = ranked[0], f"explored: thompson sampling (model's first: {best.action_id})"
    if explored is not None:
        ranked.remove(explored[0])
        ranked.insert(
            0, replace(explored[0], explored=True, reasons=(*explored[0].reasons, explored[1]))
        )
    return ranked[:max_actions]


def _rank(c: Scored) -> tuple[float, str]:
    return -c.score, c.action_id


def _thompson(candidates: Sequence[Scored], draws: random.Random) -> list[Scored]:
    """Each candidate with a propensity drawn around its own, in id order (so the input's
    order moves no draw)."""
    drawn = []
    for c in sorted(candidates, key=lambda c: c.action_id):
        n = min(c.served, MAX_EVIDENCE)
        p = min(max(c.propensity, 0.0), 1.0)
        value = draws.betavariate(1 + p * n, 1 + (1 - p) * n)
        why = f"thompson sampling: propensity {value:.4f} drawn over {n} decisions"
        drawn.append(replace(c, drawn=value, reasons=(*c.reasons, why)))
    return drawn


def _cold_start(ranked: list[Scored], policy: Placement, cold: float) -> tuple[Scored, str] | None:
    edge = 0.0
    for candidate in ranked:
        share = cold_start_share(policy, candidate.positives)
        edge += share
        if share and cold < edge:
            return candidate, (
                f"explored: cold start (share {share:g} after {candidate.positives} positives)"
            )
    return None
