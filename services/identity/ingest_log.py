"""Reading a tenant's messages back from a stream, in order: its ingested events from
`INGEST` for a rule preview, its dead letters for a forget's sweep.

An ephemeral pull consumer (no acknowledgements, gone after a minute idle) reads the
subject from the start up to what is there when it began; what cannot be read as an
ingested event is left out of a preview, as the ingest consumer would refuse it. A batch
message gives each of its events.
"""

from __future__ import annotations

import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.identity import mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.kernel.messaging import subjects
from services.kernel.messaging.batch import open_envelopes

BATCH = 256


async def stored(js: JetStreamContext, stream: str, subject: str, limit: int) -> list[Msg]:
    """At most `limit` of the messages the stream holds on `subject`, oldest first."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
    )
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    found: list[Msg] = []
    try:
        left = min((await sub.consumer_info()).num_pending or 0, limit)
        while left > 0:
            batch = await sub.fetch(min(BATCH, left), timeout=5)
            left -= len(batch)
            found += batch
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return found[:limit]


async def tenant_messages(
    js: JetStreamContext, tenant_id: str, limit: int
) -> list[ApplyIngestedEvent]:
    """At most `limit` of the tenant's events, oldest first."""
    found: list[ApplyIngestedEvent] = []
    for msg in await stored(js, "INGEST", subjects.ingest(tenant_id), limit):
        with contextlib.suppress(Exception):  # undecodable: the consumer refuses it too
            for envelope in open_envelopes(msg.subject, msg.headers, msg.data):
                if envelope.type == mapping.EVENT_INGESTED:
                    found.append(mapping.command_from_ingested(envelope.payload))
    return found[:limit]
