"""Numeric features of a profile, projected from identity's events.

Models score from the decision service's own copy, never from a call to identity
per decision; features are recomputed from each full profile view, so none lags
the traits it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ProfileUpdated:
    """Identity's view of a profile, reduced to what features are made of.

    `traits` holds decoded JSON values (None for a value that was not valid JSON).
    """

    tenant_id: str
    profile_id: str
    profile_version: int
    identifier_count: int = 0
    traits: Mapping[str, object] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileFeatures:
    """The feature vector of a profile at one of its versions."""

    tenant_id: str
    profile_id: str
    profile_version: int
    values: Mapping[str, float]
    update_time: datetime


def _number(value: object) -> float | None:
    """A finite JSON number as a float; booleans, strings and huge or non-finite numbers: None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def extract_features(update: ProfileUpdated) -> dict[str, float]:
    """`trait_<name>` per numeric trait, `consent_<purpose>` as 0/1, `trait_count` and
    `identifier_count`; the two counts win over a trait named `count` or similar."""
    values: dict[str, float] = {}
    for name, value in update.traits.items():
        number = _number(value)
        if number is not None:
            values[f"trait_{name}"] = number
    for purpose, granted in update.consent.items():
        values[f"consent_{purpose}"] = 1.0 if granted else 0.0
    values["trait_count"] = float(len(update.traits))
    values["identifier_count"] = float(update.identifier_count)
    return values


def profile_features(update: ProfileUpdated, now: datetime) -> ProfileFeatures:
    """The features a profile update leads to, stamped with the time they were projected."""
    return ProfileFeatures(
        tenant_id=update.tenant_id,
        profile_id=update.profile_id,
        profile_version=update.profile_version,
        values=extract_features(update),
        update_time=now,
    )
