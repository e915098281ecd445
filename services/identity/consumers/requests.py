"""Entry points from the ORCHESTRATOR stream: consent withdrawn through a channel, and
traits a journey's `update_profile` step sets. Identity owns profiles, so it applies both."""

from __future__ import annotations

from google.protobuf import json_format

from layercake.events.v1 import orchestrator_events_pb2 as oe
from layercake.orchestrator.v1 import send_pb2
from services.identity.mapping import trait_json
from services.identity.ports import IdentityUnitOfWork
from services.identity.requested_changes import (
    CONSENT,
    PROFILE_UPDATE,
    RequestedChange,
    apply_requested_change,
)
from services.identity.segments_cache import SegmentsCache
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.protobuf import from_timestamp

CONSENT_WITHDRAWN = send_pb2.ConsentWithdrawn.DESCRIPTOR.full_name
PROFILE_UPDATE_REQUESTED = oe.ProfileUpdateRequested.DESCRIPTOR.full_name


def consent_withdrawn(envelope: Envelope) -> RequestedChange:
    """An unsubscribe or complaint: the purpose is withdrawn as of when it happened, with
    the channel and reason as its source (`email:unsubscribed`)."""
    message = send_pb2.ConsentWithdrawn.FromString(envelope.payload)
    return RequestedChange(
        tenant_id=envelope.tenant_id,  # the subject's tenant, never the body's claim
        profile_id=message.profile_id,
        request_id=envelope.event_id,
        occur_time=from_timestamp(message.occur_time)
        if message.HasField("occur_time")
        else envelope.time,
        consent={message.purpose: False},
        consent_source=f"{message.channel}:{message.reason}",
        kind=CONSENT,
    )


def profile_update_requested(envelope: Envelope) -> RequestedChange:
    message = oe.ProfileUpdateRequested.FromString(envelope.payload)
    traits = {k: trait_json(v) for k, v in json_format.MessageToDict(message.traits).items()}
    return RequestedChange(
        tenant_id=envelope.tenant_id,
        profile_id=message.profile_id,
        request_id=envelope.event_id,
        occur_time=from_timestamp(message.request_time)
        if message.HasField("request_time")
        else envelope.time,
        traits=traits,
        consent_source=f"journey:{message.journey_id}",
        kind=PROFILE_UPDATE,
    )


def requested_changes_consumers(segments: SegmentsCache) -> list[ConsumerSpec[IdentityUnitOfWork]]:
    """One durable consumer per request type, each reading only its own subject."""

    def on_consent_withdrawn(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
        if envelope.type == CONSENT_WITHDRAWN:
            change = consent_withdrawn(envelope)
            apply_requested_change(
                uow, change, envelope.event_id, segments.get(uow, change.tenant_id)
            )

    def on_profile_update(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
        if envelope.type == PROFILE_UPDATE_REQUESTED:
            change = profile_update_requested(envelope)
            apply_requested_change(
                uow, change, envelope.event_id, segments.get(uow, change.tenant_id)
            )

    return [
        ConsumerSpec(
            "identity-consent-withdrawals",
            "ORCHESTRATOR",
            "layercake.*.orchestrator.consent_withdrawn",
            on_consent_withdrawn,
        ),
        ConsumerSpec(
            "identity-profile-updates",
            "ORCHESTRATOR",
            "layercake.*.orchestrator.profile_update_requested",
            on_profile_update,
        ),
    ]
