"""A tenant's ingested events read back from `INGEST`, in order, for a rule preview.

The stream is read with the kernel's `read_back`; what cannot be read as an ingested event
is left out of a preview, as the ingest consumer would refuse it. A batch message gives
each of its events.
"""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext

from services.identity import mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.kernel.messaging import subjects
from services.kernel.messaging.batch import open_envelopes
from services.kernel.messaging.read_back import stored


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
