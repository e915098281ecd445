"""An audience over the profiles that already exist: evaluated in batches by a timer.

Publishing (resuming, rolling back) an audience schedules its first batch; each batch
evaluates `BATCH` profiles in id order in one transaction, records who entered or left,
and schedules the next after the last id, so the hot path never waits for it and a
crash resumes where the last committed batch ended. For an audience no longer live
(archived), the batches walk its members instead and record their exits.
"""

from __future__ import annotations

import json

from services.identity.domain.audiences import evaluate_audiences
from services.identity.domain.profile import Profile
from services.identity.ports import IdentityUnitOfWork
from services.identity.segmenting import publish_segment_changes
from services.identity.segments_cache import live_segments
from services.kernel import telemetry
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.kernel.timers import Timer

BATCH = 200
BACKFILL_ACTOR = Actor.system("identity-audience-backfill")


def backfill_audience(uow: IdentityUnitOfWork, timer: Timer, batch_size: int = BATCH) -> None:
    """One batch of the audience's backfill (the timer's handler)."""
    payload = json.loads(timer.payload)
    tenant, audience_id, after = timer.tenant_id, payload["audience_id"], payload["after"]
    now = uow.now()
    segments = live_segments(uow, tenant)  # in this transaction: the version just published
    audience = next((a for a in segments.audiences if a.audience_id == audience_id), None)
    if audience is None:
        members = uow.audience_members.page(tenant, audience_id, "", batch_size)
        batch = [m.profile_id for m in members]
    else:
        batch = uow.profiles.live_ids(tenant, after, batch_size)
    metadata = EventMetadata(
        tenant_id=tenant,
        actor=BACKFILL_ACTOR,
        causation_id=timer.id,
        traceparent=telemetry.current_traceparent(),
    )
    changed = 0
    for profile_id in batch:
        profile = uow.profiles.get(tenant, profile_id)
        if audience is None:
            profile.exit(audience_id, profile.audiences.get(audience_id, 0), now)
        else:
            evaluate_audiences(profile, (audience,), segments.traits, now)
        changed += _save(uow, profile, metadata)
    if len(batch) == batch_size and (audience is not None or changed):
        uow.backfills.start(tenant, audience_id, after=batch[-1], due=now)


def _save(uow: IdentityUnitOfWork, profile: Profile, metadata: EventMetadata) -> bool:
    changes = list(profile.pending)
    if not changes:
        return False
    start = profile.version
    uow.profiles.save(profile, metadata)
    publish_segment_changes(uow, profile, start, changes)
    return True
