"""Reading one tenant's ingested messages back from `INGEST`, in order, for a rule preview.

An ephemeral pull consumer (no acknowledgements, gone after a minute idle) reads the
tenant's subject from the start up to what is there when it began; what cannot be read
as an ingested event is left out, as the ingest consumer would refuse it. A batch message
gives each of its events.
"""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.identity import mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.kernel.messaging import subjects
from services.kernel.messaging.batch import open_envelopes

BATCH = 256


async def tenant_messages(
    js: JetStreamContext, tenant_id: str, limit: int
) -> list[ApplyIngestedEvent]:
    """At most `limit` of the tenant's events, oldest first."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
    )
    sub = await js.pull_subscribe(subjects.ingest(tenant_id), stream="INGEST", config=config)
    found: list[ApplyIngestedEvent] = []
    try:
        left = min((await sub.consumer_info()).num_pending or 0, limit)
        while left > 0 and len(found) < limit:
            batch = await sub.fetch(min(BATCH, left), timeout=5)
            left -= len(batch)
            for msg in batch:
                with contextlib.suppress(Exception):  # undecodable: the consumer refuses it too
                    for envelope in open_envelopes(msg.subject, msg.headers, msg.data):
                        if envelope.type == mapping.EVENT_INGESTED:
                            found.append(mapping.command_from_ingested(envelope.payload))
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return found[:limit]
