"""Identity's profile changes become the orchestrator's contact states."""

from __future__ import annotations

from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.identity_feed import follow_identity
from services.orchestrator import handlers
from services.orchestrator.ports import OrchestratorUnitOfWork

DURABLE = "orchestrator-profiles"


def profiles_consumer() -> ConsumerSpec[OrchestratorUnitOfWork]:
    return follow_identity(
        DURABLE,
        handlers.record_profile_change,
        handlers.record_profiles_merge,
        handlers.record_profile_forget,
    )
