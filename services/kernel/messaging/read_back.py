"""Reading a stream's messages back from the first, without a durable consumer.

A rule preview, a replay of identity's changes or a forget's sweep of dead letters reads
what a stream holds on a subject, up to what is there when it begins: an ephemeral pull
consumer (no acknowledgements, gone after a minute idle) fetches it in batches, oldest
first. A stream that does not exist raises `nats.js.errors.NotFoundError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

BATCH = 256  # messages per fetch


async def batches(
    js: JetStreamContext, stream: str, subject: str, limit: int | None = None
) -> AsyncIterator[list[Msg]]:
    """The messages `stream` holds on `subject` (at most `limit`), a fetch at a time."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
    )
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    try:
        left = (await sub.consumer_info()).num_pending or 0
        if limit is not None:
            left = min(left, limit)
        while left > 0:
            batch = (await sub.fetch(min(BATCH, left), timeout=5))[:left]
            left -= len(batch)
            yield batch
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def stored(js: JetStreamContext, stream: str, subject: str, limit: int) -> list[Msg]:
    """At most `limit` of the messages the stream holds on `subject`, oldest first."""
    return [msg async for batch in batches(js, stream, subject, limit) for msg in batch]
