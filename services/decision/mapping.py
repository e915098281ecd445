"""Protobuf <-> the decision service's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision.domain.features import ProfileFeatures
from services.kernel.protobuf import to_timestamp


def feature_vector_proto(features: ProfileFeatures) -> pb.FeatureVector:
    return pb.FeatureVector(
        tenant_id=features.tenant_id,
        profile_id=features.profile_id,
        profile_version=features.profile_version,
        values=dict(features.values),
        update_time=to_timestamp(features.update_time),
    )
