"""Features of a profile, projected from identity's profile changes.

Models score from the decision service's own copy, never from a call to identity
per decision; each change of a profile updates the features it touches, so none
lags the traits it comes from.

A feature holds a number, a boolean or text (a trait such as `plan: "gold"`, read by a
`one_hot`, `text` or `bucketize` transform). Only traits identity sends in clear become
features: it seals personal traits, and this service never unseals them, so a personal
value never reaches a model, the store or the decision log through here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.decision.domain.transforms import MAX_TEXT
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

Value = float | bool | str  # a feature's value; see `kept`
TRAIT_COUNT = "trait_count"
IDENTIFIER_COUNT = "identifier_count"


@dataclass(frozen=True)
class ProfileFeatures:
    """The feature vector of a profile at one of its versions; `field_versions` says which
    profile version set each part (see ProfileChange)."""

    tenant_id: str
    profile_id: str
    profile_version: int
    values: Mapping[str, Value]
    update_time: datetime
    field_versions: Mapping[str, int] = field(default_factory=dict)


def kept(value: object) -> Value | None:
    """A trait's JSON value as a feature: a finite number as a float, a boolean as it is,
    text of at most MAX_TEXT characters as it is; None (no feature) for anything else
    (null, lists, objects, longer text, huge or non-finite numbers)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _set(values: dict[str, Value], feature: str, value: object) -> None:
    found = kept(value)
    if found is None:
        values.pop(feature, None)
    else:
        values[feature] = found


def features_after(
    features: ProfileFeatures | None, change: ProfileChange, now: datetime
) -> ProfileFeatures | None:
    """The features once identity's `change` is applied, stamped with `now`; None when it
    changes nothing (a repeat, or only parts older than those held).

    `trait_<name>` per trait and `computed_<name>` per computed trait that is `kept`,
    `consent_<purpose>` and `audience_<id>` as 0/1, `trait_count` (traits seen, personal
    ones aside) and `identifier_count`; the counts win over a trait named `count` or similar.
    """
    versions = features.field_versions if features is not None else {}
    newer = change.newer_than(versions)
    held = features.profile_version if features is not None else 0
    if newer.empty and change.version <= held:
        return None
    values = dict(features.values) if features is not None else {}
    for name, value in newer.traits.items():
        _set(values, f"trait_{name}", value)
    for purpose, granted in newer.consent.items():
        values[f"consent_{purpose}"] = 1.0 if granted else 0.0
    for name, value in newer.computed.items():
        _set(values, f"computed_{name}", value)
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


def features_refilled(features: ProfileFeatures, change: ProfileChange) -> ProfileFeatures | None:
    """The features with the traits and computed traits `change` set that they stamped at
    its version but do not hold: values a projection that kept only numbers dropped (text,
    booleans), restored from a replay of identity's stream. A newer value is never
    touched (its stamp is another version); None when nothing is restored."""
    versions, values = features.field_versions, features.values
    restored: dict[str, Value] = {}
    for prefix, versioned, parts in (
        ("trait_", TRAIT, change.traits),
        ("computed_", COMPUTED, change.computed),
    ):
        for name, value in parts.items():
            feature, found = prefix + name, kept(value)
            dropped = versions.get(versioned + name) == change.version and feature not in values
            if dropped and found is not None:
                restored[feature] = found
    if not restored:
        return None
    return replace(features, values={**values, **restored})


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
        if feature in merged.values:  # a trait that is not `kept` has no feature
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
