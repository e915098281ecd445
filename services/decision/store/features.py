"""Profile features on SQLAlchemy: rows of `profile_features`, one per tenant and profile."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.decision.domain.features import ProfileFeatures
from services.decision.store.tables import profile_features
from services.kernel.store.versioned import Row, SqlProfileCopies


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


def sql_features(session: Session) -> SqlProfileCopies[ProfileFeatures]:
    return SqlProfileCopies(session, profile_features, _features, _row)
