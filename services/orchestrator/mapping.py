"""Protobuf <-> the orchestrator's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

import json

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2
from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp
from services.orchestrator.domain.contact_state import ContactState, ProfileUpdated

PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name
TIME_ZONE_TRAIT = "timezone"


def _json_string(trait: common_pb2.TraitValue | None) -> str:
    """A trait holding a JSON string, as that string; anything else (number, bad JSON) as ''."""
    if trait is None:
        return ""
    try:
        value = json.loads(trait.json_value)
    except ValueError:
        return ""
    return value if isinstance(value, str) else ""


def profile_updated(envelope: Envelope) -> ProfileUpdated:
    """Reads identity's ProfileUpdated; the tenant is the envelope's, which NATS scopes."""
    message = identity_events_pb2.ProfileUpdated.FromString(envelope.payload)
    profile = message.profile
    return ProfileUpdated(
        tenant_id=envelope.tenant_id,
        profile_id=profile.profile_id,
        profile_version=profile.version,
        consent=dict(profile.consent),
        time_zone=_json_string(profile.traits.get(TIME_ZONE_TRAIT)),
    )


def contact_state_proto(state: ContactState) -> pb.ContactState:
    return pb.ContactState(
        tenant_id=state.tenant_id,
        profile_id=state.profile_id,
        profile_version=state.profile_version,
        consent=dict(state.consent),
        time_zone=state.time_zone,
        update_time=to_timestamp(state.update_time),
    )
