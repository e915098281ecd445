"""The decision log's writer: decisions are answered first and logged in batches.

A decision's answer does not wait for a disk flush: `submit` queues it, and a task writes
the queue in batches of up to `max_batch`, one transaction each (the decisions, their
exposure counts, a `DecisionMade` per decision and the counters after the batch in the
outbox). A decision counts for caps on this replica from the moment it is submitted, and
after its batch commits on every replica, through the counters the batch published
(`exposures.ExposureCounts`).

No decision is dropped while the process runs, and none stops counting for caps before it
is written. A batch the database could not take (unreachable, locked) is written again with
back-off until it is. A batch it refused (a row it will never take) is split until the
refused decisions stand alone; those are set aside (`refused`), still counted for caps
here, and offered again every minute and at shutdown. At
shutdown the queue is written before the outbox is flushed; a process killed outright, or
stopped while the database is down, loses the decisions not yet written (the writer's
linger, milliseconds, in normal running).
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter as Metric
from prometheus_client import Gauge
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from services.decision import handlers
from services.decision.domain.decisions import Decision
from services.decision.exposures import ExposureCounts
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)
LOGGED = Metric("layercake_decision_logged_total", "Decisions written to the decision log.")
FAILED = Metric("layercake_decision_log_failures_total", "Decision log batch writes that failed.")
UNWRITTEN = Gauge("layercake_decision_unwritten", "Decisions answered and not yet in the log.")
RETRY_SECONDS = (0.05, 0.2, 1.0, 5.0)
REOFFER_SECONDS = 60.0  # how often decisions the database refused are offered again
# The database is away or busy: the same batch will go in later, so it is never split.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, TimeoutError, ConnectionError)


class DecisionLogWriter:
    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        counts: ExposureCounts,
        max_batch: int = 256,
        linger: float = 0.025,
    ) -> None:
        self.layer = layer
        self.counts = counts
        self.max_batch = max_batch
        self.linger = linger  # seconds a lone decision waits for others to share its commit
        self._queue: list[Decision] = []
        self.refused: list[Decision] = []  # refused alone by the database; still counted
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, decision: Decision) -> None:
        """Queues the decision for the log; counts it for caps on this replica at once."""
        self._queue.append(decision)
        self.counts.submitted(decision)
        UNWRITTEN.inc()
        self._idle.clear()
        self._ready.set()

    async def flush(self) -> None:
        """Returns once everything submitted so far is written."""
        await self._idle.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Writes batches until `stop`, then writes what is left."""
        loop = asyncio.get_running_loop()
        offered = loop.time()
        while True:
            if self.refused and (stop.is_set() or loop.time() - offered >= REOFFER_SECONDS):
                again, self.refused, offered = self.refused, [], loop.time()
                await self._write(again, stop)
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
            del self._queue[: len(batch)]
            await self._write(batch, stop)

    async def _write(self, batch: list[Decision], stop: asyncio.Event) -> None:
        """Writes `batch` however many tries it takes (split when the database refuses
        it); once stopping, gives up after one retry schedule."""
        attempt = 0
        while True:
            try:
                async with self.counts.writing:  # no read of the counters sees it half done
                    after = await self.layer.run(handlers.record_decisions, batch)
                    self.counts.written(batch, after)
            except Exception as e:  # the batch is still held, and still counts for caps
                FAILED.inc()
                attempt += 1
                if attempt > len(RETRY_SECONDS):
                    if not isinstance(e, TRANSIENT):
                        await self._refused(batch, e, stop)
                        return
                    if stop.is_set():
                        log.error(
                            "decision log unreachable at shutdown: decisions lost",
                            extra={"decisions": len(batch), "error": repr(e)[:300]},
                        )
                        return
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1]
                log.warning(
                    "decision log batch failed; retrying",
                    extra={"decisions": len(batch), "error": repr(e)[:300], "retry_in": delay},
                )
                await asyncio.sleep(delay)
                continue
            LOGGED.inc(len(batch))
            UNWRITTEN.dec(len(batch))
            return

    async def _refused(self, batch: list[Decision], error: Exception, stop: asyncio.Event) -> None:
        """The database refused the batch: its halves go on alone, so the decisions it
        takes are written; one refused alone is set aside, still counted for caps."""
        if len(batch) > 1:
            half = len(batch) // 2
            await self._write(batch[:half], stop)
            await self._write(batch[half:], stop)
            return
        self.refused += batch
        log.error(
            "decision log refused a decision; set aside, still counted",
            extra={"decision": batch[0].decision_id, "error": repr(error)[:300]},
        )
