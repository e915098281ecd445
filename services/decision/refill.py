"""Refilling the features projection from identity's stream: values it stamped, not kept.

Before the projection kept text and booleans (a trait such as `plan: "gold"`), it stamped
such a trait's version and dropped its value, so the feature stayed missing until the
trait changed again. `python -m services.decision.admin refill-features` reads the
IDENTITY stream (kept in full) from its first message up to what is there when it starts,
with the kernel's replay (`services.kernel.messaging.identity_replay`), and restores
each dropped value from the change that set it (`features_refilled`): a value set since
carries another version and is left alone, and a second run restores nothing. Running
replicas hold features in memory: they read the refilled rows once restarted.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext

from services.decision import handlers
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.messaging.identity_replay import replay_profile_changes
from services.kernel.profile_changes import ProfileChange
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)


async def refill_features(
    js: JetStreamContext, layer: ServiceLayer[SqlDecisionUnitOfWork], tenant_id: str = "*"
) -> tuple[int, int]:
    """Replays identity's stream (one tenant's part, or every tenant's) into
    `features_refilled`; (messages read, changes that restored a value)."""

    async def refill(changes: list[ProfileChange]) -> int:
        return await layer.run(handlers.refill_features, changes)

    read, restored = await replay_profile_changes(js, refill, tenant_id)
    log.info("features refilled", extra={"messages": read, "restored": restored})
    return read, restored
