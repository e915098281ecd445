"""Numeric features of a profile, projected from identity's profile changes.

Models score from the decision service's own copy, never from a call to identity
per decision; each change of a profile updates the features it touches, so none
lags the traits it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.kernel.profile_changes import (
    AUDIENCE,
    COMPUTED,
    CONSENT,
    IDENTIFIERS,
    TRAIT,
    ProfileChange,
    ProfilesMerge,
    taken_from_merged,
    trait_count,
)

TRAIT_COUNT = "trait_count"
IDENTIFIER_COUNT = "identifier_count"


@dataclass(frozen=True)
class ProfileFeatures:
    """The feature vector of a profile at one of its versions; `field_versions` says which
    profile version set each part (see ProfileChange)."""

    tenant_id: str
    profile_id: str
    profile_version: int
    values: Mapping[str, float]
    update_time: datetime
    field_versions: Mapping[str, int] = field(default_factory=dict)


def _number(value: object) -> float | None:
    """A finite JSON number as a float; booleans, strings and huge or non-finite numbers: None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def features_after(
    features: ProfileFeatures | None, change: ProfileChange, now: datetime
) -> ProfileFeatures | None:
    """The features once identity's `change` is applied, stamped with `now`; None when it
    changes nothing (a repeat, or only parts older than those held).

    `trait_<name>` per numeric trait, `consent_<purpose>` as 0/1, `computed_<name>` per
    numeric computed trait, `audience_<id>` as 0/1, `trait_count` (traits seen, personal
    ones aside) and `identifier_count`; the counts win over a trait named `count` or similar.
    """
    versions = features.field_versions if features is not None else {}
    newer = change.newer_than(versions)
    held = features.profile_version if features is not None else 0
    if newer.empty and change.version <= held:
        return None
    values = dict(features.values) if features is not None else {}
    for name, value in newer.traits.items():
        number = _number(value)
        if number is None:
            values.pop(f"trait_{name}", None)
        else:
            values[f"trait_{name}"] = number
    for purpose, granted in newer.consent.items():
        values[f"consent_{purpose}"] = 1.0 if granted else 0.0
    for name, value in newer.computed.items():
        number = _number(value)
        if number is None:
            values.pop(f"computed_{name}", None)
        else:
            values[f"computed_{name}"] = number
    for audience, member in newer.audiences.items():
        values[f"audience_{audience}"] = 1.0 if member else 0.0
    stamped = newer.stamped(versions)
    values[TRAIT_COUNT] = float(trait_count(stamped))
    if newer.identifier_count is not None:
        values[IDENTIFIER_COUNT] = float(newer.identifier_count)
    values.setdefault(IDENTIFIER_COUNT, 0.0)
    return ProfileFeatures(
        tenant_id=change.tenant_id,
        profile_id=change.profile_id,
        profile_version=max(held, change.version),
        values=values,
        update_time=now,
        field_versions=stamped,
    )


def _feature(name: str) -> str:
    """The feature a versioned field feeds (see `ProfileChange.fields`)."""
    if name.startswith(TRAIT):
        return "trait_" + name.removeprefix(TRAIT)
    if name.startswith(CONSENT):
        return "consent_" + name.removeprefix(CONSENT)
    if name.startswith(COMPUTED):
        return "computed_" + name.removeprefix(COMPUTED)
    if name.startswith(AUDIENCE):
        return "audience_" + name.removeprefix(AUDIENCE)
    return IDENTIFIER_COUNT if name == IDENTIFIERS else name


def features_folded(
    survivor: ProfileFeatures | None, merged: ProfileFeatures, merge: ProfilesMerge, now: datetime
) -> ProfileFeatures | None:
    """The survivor's features once it takes the merged-away profile's parts it lacks (see
    `taken_from_merged`); None when it takes nothing."""
    versions = survivor.field_versions if survivor is not None else {}
    taken = taken_from_merged(versions, merged.field_versions, merge.version)
    if survivor is not None and not taken:
        return None
    values = dict(survivor.values) if survivor is not None else {}
    for name in taken:
        feature = _feature(name)
        if feature in merged.values:  # a trait that is not a number has no feature
            values[feature] = merged.values[feature]
    stamped = dict(versions) | taken
    values[TRAIT_COUNT] = float(trait_count(stamped))
    values.setdefault(IDENTIFIER_COUNT, 0.0)
    held = survivor.profile_version if survivor is not None else 0
    return ProfileFeatures(
        tenant_id=merge.tenant_id,
        profile_id=merge.survivor_profile_id,
        profile_version=max(held, *taken.values(), 1),
        values=values,
        update_time=now,
        field_versions=stamped,
    )
