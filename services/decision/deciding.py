"""Decide: eligible actions -> propensity from the placement's model -> arbitration.

The profile's features and the actions' exposure counts come from this replica's caches
(`profiles`, `exposures`), so a decision reads no database once they are held; the model
scores every candidate in one batch (an action its caps then leave out was scored for
nothing); the counts are taken after it, with nothing awaited between them and the
decision's `submit` to the decision log, which writes in batches behind the answer
(`logging.DecisionLogWriter`). No lock is held while scoring.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Histogram

from services.decision.catalogs import Catalogs
from services.decision.domain.actions import (
    Action,
    Exposures,
    capped,
    context_weight,
    lever,
    screen,
)
from services.decision.domain.arbitration import (
    THOMPSON_SAMPLING,
    Placement,
    Scored,
    arbitrate,
    exploration,
)
from services.decision.domain.decisions import DecideCommand, Decision, ModelUsed, VersionScore
from services.decision.domain.transforms import Cell, FeatureTransform, record
from services.decision.exposures import ExposureCounts
from services.decision.logging import DecisionLogWriter
from services.decision.profiles import ProfileFeatureCache
from services.decision.serving import ModelServing
from services.kernel.clock import Clock
from services.kernel.ids import new_id
from services.kernel.rules import Activation, narrowed

NONE = Exposures()
DECIDE_SECONDS = Histogram(
    "layercake_decision_decide_seconds",
    "Time to decide (read, score, arbitrate), before the decision is logged.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


class Decider:
    """Makes decisions on this replica's catalogs and models."""

    def __init__(
        self,
        catalogs: Catalogs,
        serving: ModelServing,
        profiles: ProfileFeatureCache,
        clock: Clock,
        log: DecisionLogWriter,
        exposures: ExposureCounts,
    ) -> None:
        self.catalogs = catalogs
        self.serving = serving
        self.profiles = profiles
        self.clock = clock
        self.log = log
        self.exposures = exposures

    async def decide(self, command: DecideCommand, decision_id: str = "") -> Decision:
        """The ranked actions for one profile at one placement, queued for the log."""
        started = time.perf_counter()
        tenant = command.tenant_id
        catalog = await self.catalogs.get(tenant)
        placement = catalog.placement(command.placement)
        ids = [a.action_id for a in catalog.actions]
        held = await self.profiles.get(tenant, command.profile_id)
        features: Mapping[str, Cell] = held.values if held is not None else {}
        now = self.clock.now()
        # converted for CEL once, for every action's eligibility and context weights, and
        # only what they read (the conversion costs by size)
        values = {"features": features, "context": command.context}
        activation = Activation(narrowed(values, catalog.rules))
        allowed: list[Action] = []
        excluded = []
        for action in catalog.actions:
            why = screen(action, command.placement, command.channel, now, activation, NONE)
            if why:
                excluded.append((action.action_id, tuple(why)))
            else:
                allowed.append(action)
        rows = _rows(placement, features, command.context, allowed)
        model, propensities, others = await self._propensities(command, placement, allowed, rows)
        exposures: Mapping[str, Exposures] = {}
        if (
            placement.cold_start_share
            or catalog.capped
            or placement.exploration == THOMPSON_SAMPLING
        ):
            # Read last, nothing awaited from here to `submit`: decisions of one profile in
            # flight together on this replica each see the ones before (a cap is exact).
            exposures = await self.exposures.get(tenant, command.profile_id, ids)
        candidates: list[tuple[Action, Exposures]] = []
        for action in allowed:
            seen = exposures.get(action.action_id, NONE)
            why = capped(action, seen)
            if why:
                excluded.append((action.action_id, tuple(why)))
            else:
                candidates.append((action, seen))
        scored = [
            _scored(action, seen, propensities[action.action_id], placement, activation, model)
            for action, seen in candidates
        ]
        draws = exploration(tenant, command.profile_id, command.placement, command.seed)
        top = arbitrate(scored, placement, draws, command.max_actions or placement.max_actions)
        decision = Decision(
            decision_id=decision_id or new_id(),
            command=command,
            decide_time=now,
            profile_version=held.profile_version if held is not None else 0,
            model=model,
            fallback=not model.version,
            actions=tuple(top),
            excluded=tuple(excluded),
            rows={a.action_id: rows[a.action_id] for a in top},
            shadow_scores={a.action_id: others[a.action_id] for a in top if a.action_id in others},
        )
        self.log.submit(decision)
        DECIDE_SECONDS.observe(time.perf_counter() - started)
        return decision

    async def _propensities(
        self,
        command: DecideCommand,
        placement: Placement,
        candidates: list[Action],
        rows: dict[str, dict[str, Cell]],
    ) -> tuple[ModelUsed, dict[str, float], dict[str, tuple[VersionScore, ...]]]:
        """Each candidate's propensity from the placement's model, and the scores of the
        serving versions not acted on (shadows...); 1 for all (a fallback ranking by value)
        without a model or a champion in service."""
        name = placement.model_name
        live = self.serving.live(command.tenant_id, name) if name else None
        if not candidates or live is None or not live.deployment.champion:
            return ModelUsed(name), {a.action_id: 1.0 for a in candidates}, {}
        ids = [a.action_id for a in candidates]
        served, scores = await self.serving.score_rows(
            command.tenant_id, name, command.profile_id, [rows[i] for i in ids]
        )
        first = served[0]
        others = {
            i: tuple(VersionScore(s.version, s.stage, s.score) for s in row if s != used)
            for i, used, row in zip(ids, served, scores, strict=True)
            if len(row) > 1
        }
        return (
            ModelUsed(name, first.version, first.stage),
            {i: s.score for i, s in zip(ids, served, strict=True)},
            others,
        )


def _rows(
    placement: Placement,
    features: Mapping[str, Cell],
    context: Mapping[str, Any],
    actions: list[Action],
) -> dict[str, dict[str, Cell]]:
    """Each candidate's model input row: the placement's transforms (those that do not read
    the action applied once for all), or without any the profile's features and the
    context's numbers as they are. The same rows, in the same column order, as
    `FeatureSet.row` gives candidate by candidate."""
    transforms = placement.features.transforms
    if not transforms:
        return {a.action_id: _bare_row(features, context, a) for a in actions}
    shared = record(features, context, "", 0.0, {})
    parts: list[dict[str, Cell] | FeatureTransform] = []
    for transform in transforms:
        if transform.source.startswith("action."):
            parts.append(transform)
        else:
            part: dict[str, Cell] = {}
            transform.apply(shared, part)
            parts.append(part)
    rows = {}
    for a in actions:
        candidate = record(features, context, a.action_id, a.value, a.attributes)
        row: dict[str, Cell] = {}
        for p in parts:
            if isinstance(p, dict):
                row.update(p)
            else:
                p.apply(candidate, row)
        rows[a.action_id] = row
    return rows


def _bare_row(
    features: Mapping[str, Cell], context: Mapping[str, Any], a: Action
) -> dict[str, Cell]:
    row: dict[str, Cell] = dict(features)
    for key, value in context.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            row[f"context_{key}"] = float(value)
    row[f"action:{a.action_id}"] = 1.0
    return row


def _scored(
    action: Action,
    seen: Exposures,
    propensity: float,
    placement: Placement,
    activation: Activation,
    model: ModelUsed,
) -> Scored:
    weight, weight_reasons = context_weight(action, activation)
    levers, lever_reasons = lever(action, placement.levers)
    rule = action.eligibility_text or "no eligibility rule"
    scored_by = (
        f"model {model.name} {model.version} ({model.stage}): propensity {propensity:.4f}"
        if model.version
        else "no model in service: ranked by value"
    )
    return Scored(
        action_id=action.action_id,
        propensity=propensity,
        value=action.value,
        context_weight=weight,
        lever=levers,
        positives=seen.positives,
        served=seen.total,
        reasons=(f"eligible: {rule}"[:300], scored_by, *weight_reasons, *lever_reasons),
        channel=action.channel,
        attributes=action.attributes,
    )
