"""Erases forgotten people's raw messages from the `INGEST` stream.

`INGEST` is the one place personal data arrives in clear. Forgetting (and suppressing)
queues the stream sequences of a person's messages in identity's database; this worker
deletes each with JetStream's message delete, which overwrites it on disk (`no_erase`
false, the default), then drops it from the queue. A failure leaves the rest queued
for the next pass, so nothing is lost while NATS is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.identity import forgetting
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)

STREAM = "INGEST"
BATCH = 500


class IngestEraser:
    def __init__(
        self, js: JetStreamContext, layer: ServiceLayer[SqlIdentityUnitOfWork], every: float
    ) -> None:
        self.js = js
        self.layer = layer
        self.every = every
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def erase_pending(self) -> int:
        """Erases every queued message; returns how many. Raises when NATS fails (what is
        left stays queued)."""
        total = 0
        async with self._lock:
            while sequences := await self.layer.read(forgetting.pending_erasures, BATCH):
                done: list[int] = []
                try:
                    for sequence in sequences:
                        with contextlib.suppress(NotFoundError):  # gone already (or aged out)
                            await self.js.delete_msg(STREAM, sequence)
                        done.append(sequence)
                finally:
                    if done:
                        await self.layer.run(forgetting.erased, done)
                total += len(done)
        return total

    def notify(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Passes on every notice and every `every` seconds, until `stop`."""
        while not stop.is_set():
            try:
                erased = await self.erase_pending()
                if erased:
                    log.info("ingest messages erased", extra={"messages": erased})
            except Exception as e:  # NATS away: the queue waits for the next pass
                log.warning("erasing ingest messages failed", extra={"error": repr(e)})
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
