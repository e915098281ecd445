"""Changes other layers ask identity, the owner of profiles, to make.

The orchestrator publishes `ConsentWithdrawn` when a person unsubscribes or complains
through a channel, and `ProfileUpdateRequested` when a journey's `update_profile` step
runs. Identity applies each as a profile change by event time, exactly like an ingested
event (last write wins, consent keeps its source), keeps it on the profile's stream (so
an unmerge re-derives it), re-evaluates the audiences and publishes what changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from services.identity import mapping, segmenting
from services.identity.domain.audiences import evaluate_audiences
from services.identity.domain.errors import UnknownConsentPurpose
from services.identity.domain.events import EventReceived
from services.identity.domain.segments import Segments
from services.identity.ports import IdentityUnitOfWork
from services.kernel import telemetry
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata

log = logging.getLogger(__name__)

# Requests from other layers act for the platform: their actor is the layer that asked.
ORCHESTRATOR = Actor.system("orchestrator")

CONSENT = "consent"  # the kept event's type: consent decided through a channel
PROFILE_UPDATE = "profile_update"  # the kept event's type: a journey set traits


@dataclass(frozen=True)
class RequestedChange:
    """What another layer asks to change on one profile, as of `occur_time`."""

    tenant_id: str
    profile_id: str  # as the asker knows it: may since have been merged away
    request_id: str  # the request's event id: the kept event's id
    occur_time: datetime
    traits: dict[str, str] = field(default_factory=dict)  # name -> JSON value
    consent: dict[str, bool] = field(default_factory=dict)
    consent_source: str = ""  # e.g. `email:unsubscribed`
    kind: str = PROFILE_UPDATE


def apply_requested_change(
    uow: IdentityUnitOfWork, change: RequestedChange, causation_id: str, segments: Segments
) -> bool:
    """Applies the change in the caller's transaction; False when there is nothing to apply
    it to (an unknown or forgotten profile, a purpose identity does not know)."""
    profile = uow.profiles.live(change.tenant_id, change.profile_id)  # follows a merge
    if profile is None:
        log.info(
            "requested change ignored",
            extra={"tenant": change.tenant_id, "kind": change.kind, "reason": "no live profile"},
        )
        return False
    start = profile.version
    try:
        profile.take(
            EventReceived(
                change.request_id,
                change.occur_time,
                (),
                dict(change.traits),
                dict(change.consent),
                change.kind,
                "",
                change.consent_source,
            )
        )
    except UnknownConsentPurpose as e:
        log.warning(
            "requested change ignored",
            extra={"tenant": change.tenant_id, "kind": change.kind, "reason": str(e)},
        )
        return False
    evaluate_audiences(profile, segments.audiences, segments.traits, change.occur_time)
    changes, recorded = profile.news(), list(profile.pending)
    traceparent = telemetry.current_traceparent()
    uow.profiles.save(
        profile,
        EventMetadata(
            tenant_id=change.tenant_id,
            actor=ORCHESTRATOR,
            causation_id=causation_id,
            correlation_id=change.request_id[:64],
            traceparent=traceparent,
        ),
    )
    if not changes:
        return True
    sealer = uow.vault.cipher(change.tenant_id, profile.profile_id)
    assert sealer is not None, "a live profile has its key"
    uow.publish(mapping.profile_updated(profile, changes, change.request_id, traceparent, sealer))
    segmenting.publish_segment_changes(uow, profile, start, recorded)
    return True
