"""Protobuf <-> the orchestrator's domain; the only module besides api/ that knows protobuf."""

from __future__ import annotations

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.protobuf import to_timestamp
from services.orchestrator.domain.contact_state import ContactState


def contact_state_proto(state: ContactState) -> pb.ContactState:
    return pb.ContactState(
        tenant_id=state.tenant_id,
        profile_id=state.profile_id,
        profile_version=state.profile_version,
        consent=dict(state.consent),
        time_zone=state.time_zone,
        update_time=to_timestamp(state.update_time),
    )
