"""The decision log's writer: decisions are answered first and logged in batches.

A decision's answer does not wait for a disk flush: `submit` queues it, and a task writes
the queue in batches of up to `max_batch`, one transaction each (the decisions, their
exposure counts, a `DecisionMade` per decision and the counters after the batch in the
outbox). A decision counts for caps on this replica from the moment it is submitted, and
after its batch commits on every replica, through the counters the batch published
(`exposures.ExposureCounts`). A batch that fails is retried with back-off; at shutdown the
queue is written before the outbox is flushed. A process killed outright loses at most the
decisions not yet written (milliseconds' worth).
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter as Metric

from services.decision import handlers
from services.decision.domain.decisions import Decision
from services.decision.exposures import ExposureCounts
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)
LOGGED = Metric("layercake_decision_logged_total", "Decisions written to the decision log.")
RETRY_SECONDS = (0.05, 0.2, 1.0, 5.0)


class DecisionLogWriter:
    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        counts: ExposureCounts,
        max_batch: int = 256,
        linger: float = 0.005,
    ) -> None:
        self.layer = layer
        self.counts = counts
        self.max_batch = max_batch
        self.linger = linger  # seconds a lone decision waits for others to share its commit
        self._queue: list[Decision] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, decision: Decision) -> None:
        """Queues the decision for the log; counts it for caps on this replica at once."""
        self._queue.append(decision)
        self.counts.submitted(decision)
        self._idle.clear()
        self._ready.set()

    async def flush(self) -> None:
        """Returns once everything submitted so far is written."""
        await self._idle.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Writes batches until `stop`, then writes what is left."""
        while True:
            if not self._queue:
                self._idle.set()
                if stop.is_set():
                    return
                self._ready.clear()
                waiting = asyncio.create_task(self._ready.wait())
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stopping.cancel()
                continue
            if len(self._queue) < self.max_batch and not stop.is_set():
                await asyncio.sleep(self.linger)
            batch = self._queue[: self.max_batch]
            await self._write(batch)
            del self._queue[: len(batch)]

    async def _write(self, batch: list[Decision]) -> None:
        for attempt in range(len(RETRY_SECONDS) + 1):
            try:
                async with self.counts.writing:  # no read of the counters sees it half done
                    after = await self.layer.run(handlers.record_decisions, batch)
                    self.counts.written(batch, after)
                LOGGED.inc(len(batch))
                return
            except Exception as e:  # the batch stays queued; the next attempt may succeed
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.warning(
                    "decision log batch failed; retrying",
                    extra={"decisions": len(batch), "error": repr(e)[:300], "retry_in": delay},
                )
                await asyncio.sleep(delay)
        self.counts.unsubmitted(batch)
        log.error("decision log batch dropped", extra={"decisions": len(batch)})
