"""A journey's update_profile step: the orchestrator asks, identity (the owner) applies.

The step publishes `ProfileUpdateRequested` through the outbox, in the run's transaction,
with the instance and step as its event id; identity applies it by event time
(`services/identity/requested_changes.py`).
"""

from __future__ import annotations

import uuid

from layercake.events.v1 import orchestrator_events_pb2 as oe
from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.messaging import subjects
from services.kernel.protobuf import to_timestamp
from services.kernel.store.records import OutboxMessage
from services.orchestrator.domain.instances.instance import JourneyInstance
from services.orchestrator.ports import OrchestratorUnitOfWork

EVENT = "profile_update_requested"


def request_profile_update(
    uow: OrchestratorUnitOfWork, instance: JourneyInstance, step: pb.Step
) -> None:
    message = oe.ProfileUpdateRequested(
        tenant_id=instance.tenant_id,
        profile_id=instance.profile_id,
        journey_id=instance.journey_id,
        journey_version=instance.journey_version,
        step_id=step.id,
        request_time=to_timestamp(uow.now()),
    )
    message.traits.CopyFrom(step.update_profile.traits)
    key = f"{instance.stream_id}/{instance.run}/{step.id}"
    uow.publish(
        OutboxMessage(
            subject=subjects.integration(instance.tenant_id, "orchestrator", EVENT),
            type=message.DESCRIPTOR.full_name,
            payload=message.SerializeToString(),
            tenant_id=instance.tenant_id,
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"layercake:update:{key}")),
            source="orchestrator",
            subject_ref=instance.profile_id,
        )
    )
