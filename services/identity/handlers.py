"""Identity's service layer: one function per command, each inside a unit of work."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from services.identity import mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.identifiers import parse_ref
from services.identity.domain.profile import Profile
from services.identity.domain.resolution import resolve
from services.identity.store.profiles import ProfileRepository, find_profile
from services.kernel import telemetry
from services.kernel.errors import InvalidArgument, NotFound
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.kernel.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Ingested events carry no principal of their own yet: the pipeline acts for them.
INGEST = Actor.system("identity-ingest")


def apply_ingested_event(uow: UnitOfWork, cmd: ApplyIngestedEvent, causation_id: str) -> Profile:
    """Resolves the event's identifiers to a profile and folds in its traits and consent.

    Runs in the caller's transaction; publishes `ProfileUpdated` when anything changed.
    """
    if not cmd.identifiers:
        raise BadIdentifier(f"message {cmd.message_id} carries no identifiers")
    repo = ProfileRepository(uow)
    resolution = resolve(cmd.identifiers, repo.owners(cmd.tenant_id, cmd.identifiers))
    if resolution.other_profiles:
        log.info(
            "identifiers of other profiles dropped",
            extra={
                "tenant": cmd.tenant_id,
                "survivor": resolution.profile_id,
                "others": list(resolution.other_profiles),
                "message_id": cmd.message_id,
            },
        )
    if resolution.profile_id is None:
        profile = Profile.create(cmd.tenant_id, str(uuid.uuid4()), cmd.event_time)
    else:
        profile = repo.get(cmd.tenant_id, resolution.profile_id)
    over_limit = profile.link(resolution.to_link)
    if over_limit:
        log.info(
            "identifiers over their limit dropped",
            extra={"profile_id": profile.profile_id, "count": len(over_limit)},
        )
    profile.set_traits(cmd.traits, cmd.event_time, cmd.message_id)
    profile.set_consent(cmd.consent, cmd.event_time)
    if not profile.pending:
        return profile
    changes = list(profile.pending)  # save() clears them
    traceparent = telemetry.current_traceparent()
    metadata = EventMetadata(
        tenant_id=cmd.tenant_id,
        actor=INGEST,
        causation_id=causation_id,
        correlation_id=cmd.message_id[:64],
        traceparent=traceparent,
    )
    repo.save(profile, metadata)
    sealer = repo.vault.cipher(cmd.tenant_id, profile.profile_id)
    assert sealer is not None, "save() created the key of a new profile"
    uow.publish(mapping.profile_updated(profile, changes, cmd.message_id, traceparent, sealer))
    return profile


def get_profile(session: Session, tenant_id: str, profile_ref: str) -> Profile:
    try:
        ref = parse_ref(profile_ref)
    except BadIdentifier as e:
        raise InvalidArgument.field("profile_ref", str(e)) from e
    profile = find_profile(session, tenant_id, ref)
    if profile is None:
        raise NotFound(f"no profile {profile_ref!r}")
    return profile
