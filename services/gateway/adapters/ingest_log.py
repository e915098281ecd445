"""The INGEST stream as the gateway's ingest log: pipelined publishes, answered on every ack.

Each event goes out with CloudEvents headers and `Nats-Msg-Id` = `ce-id`, which
is derived from (tenant, message_id): a retried event is dropped by JetStream
inside its duplicate window, and by identity's inbox after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.api import PubAck
from prometheus_client import Counter

from services.gateway.handlers import Published
from services.kernel.errors import Unavailable
from services.kernel.messaging.envelope import headers_for
from services.kernel.store.records import OutboxMessage

log = logging.getLogger(__name__)

ACCEPTED = Counter("layercake_gateway_ingested_total", "Events durable in INGEST", ["outcome"])


class JetStreamIngestLog:
    def __init__(self, js: JetStreamContext, ack_timeout: float) -> None:
        self.js = js
        self.ack_timeout = ack_timeout

    async def append(self, messages: Sequence[OutboxMessage]) -> list[Published]:
        """Publishes all, then waits for all acks; Unavailable if any is missing.

        A partly written batch is safe to retry whole: the written events come back
        as duplicates.
        """
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for m in messages:
                assert m.created_time is not None
                headers = headers_for(m, m.created_time)
                futures.append(await self.js.publish_async(m.subject, m.payload, headers=headers))
        except Exception as e:
            for f in futures:
                f.cancel()
            raise Unavailable("the event log is unavailable; retry the batch") from e
        results = await asyncio.gather(
            *(asyncio.wait_for(f, self.ack_timeout) for f in futures), return_exceptions=True
        )
        published: list[Published] = []
        failures: list[BaseException] = []
        for result in results:
            if isinstance(result, BaseException):
                failures.append(result)
                continue
            published.append(Published(result.seq, bool(result.duplicate)))
        if failures:
            ACCEPTED.labels("unacknowledged").inc(len(failures))
            log.warning(
                "ingest publishes not acknowledged",
                extra={"failed": len(failures), "batch": len(messages), "error": repr(failures[0])},
            )
            raise Unavailable(
                f"{len(failures)} of {len(messages)} events were not acknowledged by the event log;"
                " retry the batch (message ids make it safe)"
            )
        duplicates = sum(p.duplicate for p in published)
        ACCEPTED.labels("accepted").inc(len(published) - duplicates)
        ACCEPTED.labels("duplicate").inc(duplicates)
        return published
