"""Reads and writes profile features; every query is scoped to one tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.decision.domain.features import ProfileFeatures
from services.decision.store.tables import profile_features
from services.kernel.store.versioned import save_if_newer


def save(session: Session, features: ProfileFeatures) -> bool:
    """Stores `features` unless a newer profile version is already stored; True when written."""
    row = {
        "tenant_id": features.tenant_id,
        "profile_id": features.profile_id,
        "profile_version": features.profile_version,
        "features": dict(features.values),
        "update_time": features.update_time,
    }
    return save_if_newer(session, profile_features, row, version="profile_version")


def get(session: Session, tenant_id: str, profile_id: str) -> ProfileFeatures | None:
    stmt = select(profile_features).where(
        profile_features.c.tenant_id == tenant_id, profile_features.c.profile_id == profile_id
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    m = row._mapping
    return ProfileFeatures(
        tenant_id=m["tenant_id"],
        profile_id=m["profile_id"],
        profile_version=m["profile_version"],
        values=m["features"],
        update_time=m["update_time"],
    )
