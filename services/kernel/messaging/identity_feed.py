"""Following identity: one durable consumer over its whole stream, its events read once.

A service that keeps its own copy of identity's profiles (orchestrator, decision)
reads `layercake.*.identity.>` with one durable consumer dispatching by type (see
`routing.follow`), so no identity event can overtake the one before it. Profile
updates, computed-trait changes and audience entries/exits become `ProfileChange`s; a
`ProfilesMerged` folds the merged-away copies into the survivor's (`fold_merged`); a
`ProfileForgotten` deletes the copies of the person (`drop_forgotten`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2
from services.kernel.errors import Unprocessable
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.routing import follow
from services.kernel.profile_changes import ProfileChange, ProfileForget, ProfilesMerge
from services.kernel.unit_of_work import AbstractUnitOfWork

W = TypeVar("W", bound=AbstractUnitOfWork)
PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name
PROFILES_MERGED = identity_events_pb2.ProfilesMerged.DESCRIPTOR.full_name
PROFILE_FORGOTTEN = identity_events_pb2.ProfileForgotten.DESCRIPTOR.full_name
COMPUTED_TRAIT_CHANGED = identity_events_pb2.ComputedTraitChanged.DESCRIPTOR.full_name
AUDIENCE_ENTERED = identity_events_pb2.AudienceEntered.DESCRIPTOR.full_name
AUDIENCE_EXITED = identity_events_pb2.AudienceExited.DESCRIPTOR.full_name


def _decoded(trait: common_pb2.TraitValue) -> object:
    """A trait's JSON value; None when it is not valid JSON (the trait still counts)."""
    try:
        return json.loads(trait.json_value)
    except ValueError:
        return None


def profile_change(envelope: Envelope) -> ProfileChange:
    """Reads identity's ProfileUpdated; the tenant is the envelope's, which NATS scopes.

    Unprocessable (dead-lettered at once) when it names no profile or no version.
    """
    message = identity_events_pb2.ProfileUpdated.FromString(envelope.payload)
    if not message.profile_id:
        raise Unprocessable("ProfileUpdated without profile_id")
    if message.version < 1:
        raise Unprocessable(f"ProfileUpdated with version {message.version}; expected >= 1")
    return ProfileChange(
        tenant_id=envelope.tenant_id,
        profile_id=message.profile_id,
        version=message.version,
        traits={name: _decoded(value) for name, value in message.traits.items()},
        consent=dict(message.consent),
        identifier_count=message.identifier_count if message.linked_identifiers else None,
        personal_traits=frozenset(message.sealed_traits),
    )


def _checked(kind: str, profile_id: str, version: int) -> None:
    if not profile_id:
        raise Unprocessable(f"{kind} without profile_id")
    if version < 1:
        raise Unprocessable(f"{kind} with version {version}; expected >= 1")


def computed_trait_change(envelope: Envelope) -> ProfileChange:
    """Reads identity's ComputedTraitChanged as a change of one computed trait (None: its
    window holds no value); Unprocessable when it names no profile, trait or version."""
    message = identity_events_pb2.ComputedTraitChanged.FromString(envelope.payload)
    _checked("ComputedTraitChanged", message.profile_id, message.version)
    if not message.name:
        raise Unprocessable("ComputedTraitChanged without name")
    value = _decoded(message.value) if message.HasField("value") else None
    return ProfileChange(
        tenant_id=envelope.tenant_id,
        profile_id=message.profile_id,
        version=message.version,
        computed={message.name: value},
    )


def audience_change(envelope: Envelope) -> ProfileChange:
    """Reads identity's AudienceEntered or AudienceExited as a change of one membership."""
    entered = envelope.type == AUDIENCE_ENTERED
    kind = identity_events_pb2.AudienceEntered if entered else identity_events_pb2.AudienceExited
    message = kind.FromString(envelope.payload)
    _checked(kind.DESCRIPTOR.name, message.profile_id, message.version)
    if not message.audience_id:
        raise Unprocessable(f"{kind.DESCRIPTOR.name} without audience_id")
    return ProfileChange(
        tenant_id=envelope.tenant_id,
        profile_id=message.profile_id,
        version=message.version,
        audiences={message.audience_id: entered},
    )


def profiles_merge(envelope: Envelope) -> ProfilesMerge:
    """Reads identity's ProfilesMerged; Unprocessable when it names no survivor or version."""
    message = identity_events_pb2.ProfilesMerged.FromString(envelope.payload)
    if not message.survivor_profile_id:
        raise Unprocessable("ProfilesMerged without survivor_profile_id")
    if message.version < 1:
        raise Unprocessable(f"ProfilesMerged with version {message.version}; expected >= 1")
    return ProfilesMerge(
        tenant_id=envelope.tenant_id,
        survivor_profile_id=message.survivor_profile_id,
        merged_profile_ids=tuple(p for p in message.merged_profile_ids if p),
        version=message.version,
    )


def profile_forget(envelope: Envelope) -> ProfileForget:
    """Reads identity's ProfileForgotten; Unprocessable when it names no profile."""
    message = identity_events_pb2.ProfileForgotten.FromString(envelope.payload)
    if not message.profile_id:
        raise Unprocessable("ProfileForgotten without profile_id")
    return ProfileForget(
        tenant_id=envelope.tenant_id,
        profile_id=message.profile_id,
        alias_profile_ids=tuple(p for p in message.alias_profile_ids if p),
    )


def follow_identity(
    durable: str,
    on_change: Callable[[W, ProfileChange], object],
    on_merge: Callable[[W, ProfilesMerge], object],
    on_forget: Callable[[W, ProfileForget], object],
) -> ConsumerSpec[W]:
    """The one consumer of identity's stream a profile-projecting service runs: profile
    updates, computed-trait changes and audience entries and exits all reach `on_change`."""

    def changed(read: Callable[[Envelope], ProfileChange]) -> Callable[[W, Envelope], None]:
        def on_event(uow: W, envelope: Envelope) -> None:
            on_change(uow, read(envelope))

        return on_event

    def on_profiles_merged(uow: W, envelope: Envelope) -> None:
        on_merge(uow, profiles_merge(envelope))

    def on_profile_forgotten(uow: W, envelope: Envelope) -> None:
        on_forget(uow, profile_forget(envelope))

    handlers = {
        PROFILE_UPDATED: changed(profile_change),
        COMPUTED_TRAIT_CHANGED: changed(computed_trait_change),
        AUDIENCE_ENTERED: changed(audience_change),
        AUDIENCE_EXITED: changed(audience_change),
        PROFILES_MERGED: on_profiles_merged,
        PROFILE_FORGOTTEN: on_profile_forgotten,
    }
    return follow(durable, "identity", handlers)
