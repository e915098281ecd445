"""Refilling the features projection from identity's stream: values it stamped, not kept.

Before the projection kept text and booleans (a trait such as `plan: "gold"`), it stamped
such a trait's version and dropped its value, so the feature stayed missing until the
trait changed again. `python -m services.decision.admin refill-features` reads the
IDENTITY stream (kept in full) from its first message up to what is there when it starts,
with an ephemeral consumer (no acknowledgements, gone after a minute idle), and restores
each dropped value from the change that set it (`features_refilled`): a value set since
carries another version and is left alone, and a second run restores nothing. Running
replicas hold features in memory: they read the refilled rows once restarted.
"""

from __future__ import annotations

import contextlib
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.decision import handlers
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import open_envelope
from services.kernel.messaging.identity_feed import (
    COMPUTED_TRAIT_CHANGED,
    PROFILE_UPDATED,
    computed_trait_change,
    profile_change,
)
from services.kernel.profile_changes import ProfileChange
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)
BATCH = 256  # messages per fetch, and at most as many changes per transaction
READERS = {PROFILE_UPDATED: profile_change, COMPUTED_TRAIT_CHANGED: computed_trait_change}


async def refill_features(
    js: JetStreamContext, layer: ServiceLayer[SqlDecisionUnitOfWork], tenant_id: str = "*"
) -> tuple[int, int]:
    """Replays identity's stream (one tenant's part, or every tenant's) into
    `features_refilled`; (messages read, changes that restored a value)."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
    )
    changes_of = subjects.integration(tenant_id, "identity", ">")
    sub = await js.pull_subscribe(changes_of, stream="IDENTITY", config=config)
    read = restored = 0
    try:
        left = (await sub.consumer_info()).num_pending or 0
        while left > 0:
            batch = await sub.fetch(min(BATCH, left), timeout=5)
            left -= len(batch)
            read += len(batch)
            changes = [c for c in map(_change, batch) if c is not None]
            if changes:
                restored += await layer.run(handlers.refill_features, changes)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    log.info("features refilled", extra={"messages": read, "restored": restored})
    return read, restored


def _change(msg: Msg) -> ProfileChange | None:
    """The profile change a message carries; None for any other event, or one that cannot
    be read (the projection's consumer refused it too)."""
    try:
        envelope = open_envelope(msg.subject, msg.headers, msg.data)
        reader = READERS.get(envelope.type)
        return reader(envelope) if reader is not None else None
    except Exception:  # a message no reader can read changed nothing when it was delivered
        return None
