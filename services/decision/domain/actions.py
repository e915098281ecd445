"""Actions (offers) and the screen every candidate passes before it is scored.

An action is valid between its dates, offered at its placements and on its channel,
eligible when its CEL rule holds over the profile's features and the request's context,
and capped in total and per profile. `screen` says why an action is left out, so a
decision lists its reasons; an action left out is never returned. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.kernel.rules import Activation, Rule

# Reasons an action is left out (each a stable code, with details after a colon).
NOT_STARTED = "not_started"
EXPIRED = "expired"
OTHER_PLACEMENT = "other_placement"
OTHER_CHANNEL = "other_channel"
INELIGIBLE = "ineligible"
CAPPED_TOTAL = "capped_total"
CAPPED_PER_PROFILE = "capped_per_profile"


@dataclass(frozen=True)
class ContextWeight:
    text: str
    rule: Rule
    weight: float


@dataclass(frozen=True)
class Action:
    """A published action, its rules compiled."""

    action_id: str
    value: float
    placements: frozenset[str] = frozenset()
    channel: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    eligibility_text: str = ""
    eligibility: Rule | None = None
    max_total: int = 0
    max_per_profile: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    context_weights: tuple[ContextWeight, ...] = ()
    change_version: int = 0


@dataclass(frozen=True)
class Exposures:
    """How often decisions returned an action: in all, and to this profile; and the positive
    outcomes it collected (for cold start)."""

    total: int = 0
    to_profile: int = 0
    positives: int = 0

    def __add__(self, other: Exposures) -> Exposures:
        return Exposures(
            self.total + other.total,
            self.to_profile + other.to_profile,
            self.positives + other.positives,
        )


@dataclass(frozen=True)
class ExposureCount:
    """One counter of the decision log as it stands after a write: how often decisions
    returned the action to `profile_id` ("" for all profiles), and its positives."""

    action_id: str
    profile_id: str
    served: int
    positives: int = 0


def screen(
    action: Action,
    placement: str,
    channel: str,
    now: datetime,
    activation: Mapping[str, Any] | Activation,
    exposures: Exposures,
) -> list[str]:
    """Why `action` may not be chosen here and now; [] when it may."""
    reasons = []
    if action.start_time is not None and now < action.start_time:
        reasons.append(f"{NOT_STARTED}: starts {action.start_time.isoformat()}")
    if action.end_time is not None and now >= action.end_time:
        reasons.append(f"{EXPIRED}: ended {action.end_time.isoformat()}")
    if action.placements and placement not in action.placements:
        reasons.append(f"{OTHER_PLACEMENT}: offered at {', '.join(sorted(action.placements))}")
    if action.channel and channel and channel != action.channel:
        reasons.append(f"{OTHER_CHANNEL}: delivered on {action.channel}")
    reasons += capped(action, exposures)
    if reasons or action.eligibility is None:
        return reasons  # a rule is evaluated only for an action otherwise allowed
    outcome = action.eligibility.evaluate(activation)
    if not outcome.holds:
        r = outcome.reason
        why = "false" if r is None else f"{r.value}: {outcome.message}"
        reasons.append(f"{INELIGIBLE}: {action.eligibility_text} ({why})"[:300])
    return reasons


def capped(action: Action, exposures: Exposures) -> list[str]:
    """Why the action's caps leave it out; [] when they do not."""
    reasons = []
    if action.max_total and exposures.total >= action.max_total:
        reasons.append(f"{CAPPED_TOTAL}: returned {exposures.total} of {action.max_total} times")
    if action.max_per_profile and exposures.to_profile >= action.max_per_profile:
        reasons.append(
            f"{CAPPED_PER_PROFILE}: returned {exposures.to_profile} of"
            f" {action.max_per_profile} times to this profile"
        )
    return reasons


def context_weight(
    action: Action, activation: Mapping[str, Any] | Activation
) -> tuple[float, list[str]]:
    """The product of the weights whose condition holds, and a reason per weight applied."""
    weight, reasons = 1.0, []
    for w in action.context_weights:
        if w.rule.evaluate(activation).holds:
            weight *= w.weight
            reasons.append(f"context weight x{w.weight:g}: {w.text}"[:300])
    return weight, reasons


def lever(action: Action, levers: Mapping[str, float]) -> tuple[float, list[str]]:
    """The product of the tenant levers on the action's id or its tags."""
    product, reasons = 1.0, []
    for key in (action.action_id, *action.tags):
        if key in levers:
            product *= levers[key]
            reasons.append(f"lever {key} x{levers[key]:g}")
    return product, reasons
