"""The INGEST stream as the gateway's ingest log: one JetStream message per batch.

With `sync_interval: always` each stored message costs a disk flush, so a batch of
accepted events goes out as one message (`services.kernel.messaging.batch`): one flush
for the batch, not one per event. Each event keeps its own id (derived from tenant and
`message_id`), which consumers deduplicate on; the batch's own `Nats-Msg-Id` is fresh.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from nats.js import JetStreamContext
from prometheus_client import Counter

from services.kernel.errors import Unavailable
from services.kernel.messaging.batch import batch_message
from services.kernel.store.records import OutboxMessage

log = logging.getLogger(__name__)

WRITTEN = Counter("layercake_gateway_ingest_messages_total", "Batch messages written to INGEST")
EVENTS = Counter("layercake_gateway_ingest_events_total", "Events written to INGEST")


class JetStreamIngestLog:
    def __init__(self, js: JetStreamContext, ack_timeout: float) -> None:
        self.js = js
        self.ack_timeout = ack_timeout

    async def append(self, messages: Sequence[OutboxMessage]) -> int:
        """Writes the events (one tenant's) as one message; its stream sequence once the
        server acknowledged it (on disk). Unavailable when it did not."""
        time = messages[0].created_time or datetime.now(UTC)
        headers, body = batch_message(messages, str(uuid.uuid4()), time)
        try:
            ack = await self.js.publish(
                messages[0].subject, body, timeout=self.ack_timeout, headers=headers
            )
        except Exception as e:
            log.warning(
                "ingest batch not acknowledged",
                extra={"events": len(messages), "error": repr(e)},
            )
            raise Unavailable(
                f"the event log did not acknowledge {len(messages)} events; retry the batch"
                " (message ids make it safe)"
            ) from e
        WRITTEN.inc()
        EVENTS.inc(len(messages))
        return int(ack.seq)
