"""Reads and writes profile features; every query is scoped to one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.decision.domain.features import ProfileFeatures, features_after
from services.decision.store.tables import profile_features
from services.kernel.profile_changes import ProfileChange
from services.kernel.store.versioned import Row, merge_row


def apply(session: Session, change: ProfileChange, now: datetime) -> bool:
    """Merges identity's change into the stored features; True when it wrote."""

    def merge(row: Row | None) -> dict[str, object] | None:
        found = features_after(None if row is None else _features(row), change, now)
        if found is None:
            return None
        return {
            "profile_version": found.profile_version,
            "features": dict(found.values),
            "update_time": found.update_time,
            "field_versions": dict(found.field_versions),
        }

    key = {"tenant_id": change.tenant_id, "profile_id": change.profile_id}
    return merge_row(session, profile_features, key, merge)


def get(session: Session, tenant_id: str, profile_id: str) -> ProfileFeatures | None:
    stmt = select(profile_features).where(
        profile_features.c.tenant_id == tenant_id, profile_features.c.profile_id == profile_id
    )
    row = session.execute(stmt).first()
    return None if row is None else _features(row._mapping)


def _features(m: Row) -> ProfileFeatures:
    return ProfileFeatures(
        tenant_id=m["tenant_id"],
        profile_id=m["profile_id"],
        profile_version=m["profile_version"],
        values=m["features"],
        update_time=m["update_time"],
        field_versions=m["field_versions"],
    )
