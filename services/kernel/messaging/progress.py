"""Slow work on fetched JetStream messages: tell the server it is still going on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from nats.aio.msg import Msg
from prometheus_client import Counter

IN_PROGRESS = Counter(
    "layercake_consumer_in_progress_total", "Progress signals sent for slow work", ["consumer"]
)


@contextlib.asynccontextmanager
async def keep_alive(msgs: Sequence[Msg], ack_wait: float, consumer: str) -> AsyncIterator[None]:
    """Signals progress on `msgs` every third of `ack_wait` while the block runs, so the
    server does not redeliver them elsewhere meanwhile (slow prepare steps, retries, a
    slow SMTP server)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(ack_wait / 3)
            for m in list(msgs):  # the caller may add or drop messages meanwhile
                with contextlib.suppress(Exception):
                    await m.in_progress()
            IN_PROGRESS.labels(consumer).inc(len(msgs))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
