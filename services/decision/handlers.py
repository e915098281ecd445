"""The decision service's service layer: one function per event or query, in a unit of work.

These run in the database thread pool, called by the consumers and the servicer.
"""

from __future__ import annotations

from services.decision.domain.features import ProfileFeatures
from services.decision.store import features
from services.kernel.errors import NotFound, Violations
from services.kernel.profile_changes import ProfileChange
from services.kernel.store.unit_of_work import UnitOfWork


def record_profile_change(uow: UnitOfWork, change: ProfileChange) -> bool:
    """Applies identity's change of a profile to its features; parts older than those held
    are ignored, since deliveries can arrive out of order. Runs in the consumer's
    transaction (no commit)."""
    return features.apply(uow.session, change, uow.now())


def get_features(uow: UnitOfWork, tenant_id: str, profile_id: str) -> ProfileFeatures:
    """The features of one of the tenant's profiles; NotFound until identity reported it."""
    bad = Violations()
    bad.require_tenant(tenant_id, "tenant_id")
    bad.require(profile_id, "profile_id")
    bad.raise_if_any()
    found = features.get(uow.session, tenant_id, profile_id)
    if found is None:
        raise NotFound(f"no features for profile {profile_id!r}")
    return found
