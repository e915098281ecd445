"""Protobuf <-> the decision service's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

import json

from layercake.common.v1 import common_pb2
from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.events.v1 import identity_events_pb2
from services.decision.domain.features import ProfileFeatures, ProfileUpdated
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import to_timestamp

PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name


def _decoded(trait: common_pb2.TraitValue) -> object:
    """A trait's JSON value; None when it is not valid JSON (the trait still counts)."""
    try:
        return json.loads(trait.json_value)
    except ValueError:
        return None


def profile_updated(envelope: Envelope) -> ProfileUpdated:
    """Reads identity's ProfileUpdated; the tenant is the envelope's, which NATS scopes."""
    profile = identity_events_pb2.ProfileUpdated.FromString(envelope.payload).profile
    return ProfileUpdated(
        tenant_id=envelope.tenant_id,
        profile_id=profile.profile_id,
        profile_version=profile.version,
        identifier_count=len(profile.identifiers),
        traits={name: _decoded(value) for name, value in profile.traits.items()},
        consent=dict(profile.consent),
    )


def feature_vector_proto(features: ProfileFeatures) -> pb.FeatureVector:
    return pb.FeatureVector(
        tenant_id=features.tenant_id,
        profile_id=features.profile_id,
        profile_version=features.profile_version,
        values=dict(features.values),
        update_time=to_timestamp(features.update_time),
    )
