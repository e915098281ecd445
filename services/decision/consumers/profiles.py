"""Identity's profile changes become the decision service's features."""

from __future__ import annotations

from services.decision import handlers
from services.decision.ports import DecisionUnitOfWork
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.identity_feed import follow_identity

DURABLE = "decision-profiles"


def profiles_consumer() -> ConsumerSpec[DecisionUnitOfWork]:
    return follow_identity(
        DURABLE,
        handlers.record_profile_change,
        handlers.record_profiles_merge,
        handlers.record_profile_forget,
    )
