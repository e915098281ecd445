"""Reads and writes profile features; every query is scoped to one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.decision.domain.features import ProfileFeatures, features_after, features_folded
from services.decision.store.tables import profile_features
from services.kernel.profile_changes import ProfileChange, ProfilesMerge
from services.kernel.profile_copies import fold_merged
from services.kernel.store.versioned import Row, SqlProfileCopies


def apply(session: Session, change: ProfileChange, now: datetime) -> bool:
    """Merges identity's change into the stored features; True when it wrote."""
    return _copies(session).merge(
        change.tenant_id, change.profile_id, lambda held: features_after(held, change, now)
    )


def fold(session: Session, merge: ProfilesMerge, now: datetime) -> bool:
    """Moves the merged-away profiles' features into the survivor's, then drops them."""
    return fold_merged(
        _copies(session), merge, lambda held, merged: features_folded(held, merged, merge, now)
    )


def get(session: Session, tenant_id: str, profile_id: str) -> ProfileFeatures | None:
    return _copies(session).get(tenant_id, profile_id)


def _copies(session: Session) -> SqlProfileCopies[ProfileFeatures]:
    return SqlProfileCopies(session, profile_features, _features, _row)


def _row(found: ProfileFeatures) -> dict[str, object]:
    return {
        "profile_version": found.profile_version,
        "features": dict(found.values),
        "update_time": found.update_time,
        "field_versions": dict(found.field_versions),
    }


def _features(m: Row) -> ProfileFeatures:
    return ProfileFeatures(
        tenant_id=m["tenant_id"],
        profile_id=m["profile_id"],
        profile_version=m["profile_version"],
        values=m["features"],
        update_time=m["update_time"],
        field_versions=m["field_versions"],
    )
