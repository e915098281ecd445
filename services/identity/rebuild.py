"""Rebuilding computed-trait windows from the profiles' streams.

A window is derived state the read-model replay cannot project (it needs the published
definitions and the sealed event details), so `python -m services.identity replay`
rebuilds it after the projections: every live profile of every tenant with computed
traits, in batches, each window from the events the profile took. A value the rebuild
finds different from the one held is recorded and published like any other change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.identity import segmenting
from services.identity.domain.computed_trait_content import COMPUTED_TRAITS
from services.identity.domain.segments import Segments
from services.identity.domain.unmerge import belonging, received
from services.identity.ports import IdentityUnitOfWork
from services.identity.segments_cache import live_segments
from services.kernel.store.records import EventMetadata

log = logging.getLogger(__name__)

BATCH = 200  # profiles per transaction


def rebuild_windows(units: Callable[[], IdentityUnitOfWork], batch: int = BATCH) -> int:
    """Rebuilds the windows of every live profile whose tenant has computed traits
    published; returns how many profiles it read."""
    with units() as uow:
        tenants = sorted({tenant for tenant, _ in uow.assets.published(COMPUTED_TRAITS.name)})
    read = 0
    for tenant in tenants:
        after, of_tenant = "", 0
        while True:
            with units() as uow:
                ids = uow.profiles.live_ids(tenant, after, batch)
                segments = live_segments(uow, tenant)
                for profile_id in ids:
                    _rebuild_one(uow, tenant, profile_id, segments)
                uow.commit()
            of_tenant += len(ids)
            if len(ids) < batch:
                break
            after = ids[-1]
        log.info("computed-trait windows rebuilt", extra={"tenant": tenant, "profiles": of_tenant})
        read += of_tenant
    return read


def _rebuild_one(uow: IdentityUnitOfWork, tenant: str, profile_id: str, segments: Segments) -> None:
    profile = uow.profiles.get(tenant, profile_id)
    if profile.forgotten:
        return
    events = received(profile_id, lambda p: uow.profiles.events(tenant, p))
    start = profile.version
    segmenting.rederive_segments(
        uow, profile, belonging(events, profile.identifiers, keeps_unidentified=True), segments
    )
    changes = list(profile.pending)
    if changes:
        uow.profiles.save(profile, EventMetadata(tenant_id=tenant, actor=segmenting.EXPIRY_ACTOR))
        segmenting.publish_segment_changes(uow, profile, start, changes)
