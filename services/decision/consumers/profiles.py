"""Identity's profile events become the decision service's features."""

from __future__ import annotations

from services.decision import handlers, mapping
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.routing import route
from services.kernel.store.unit_of_work import UnitOfWork

DURABLE = "decision-profiles"


def on_profile_updated(uow: UnitOfWork, envelope: Envelope) -> None:
    handlers.record_profile_update(uow, mapping.profile_updated(envelope))


def profiles_consumer() -> ConsumerSpec:
    return ConsumerSpec(
        durable=DURABLE,
        stream="IDENTITY",
        filter_subject=subjects.integration("*", "identity", "profile_updated"),
        handler=route({mapping.PROFILE_UPDATED: on_profile_updated}),
    )
