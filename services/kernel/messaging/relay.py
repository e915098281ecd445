"""The outbox relay: publishes committed integration events to JetStream.

It never remembers "the last id it sent": it reads whatever rows are in the
outbox, so a transaction that took a lower id but committed later is still
published (the classic high-water-mark bug). Rows are deleted only once
JetStream acked them; a crash in between re-publishes, and the
`Nats-Msg-Id` header makes JetStream drop the duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from nats.js import JetStreamContext
from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.kernel.clock import Clock, SystemClock
from services.kernel.messaging.envelope import headers_for
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import outbox

log = logging.getLogger(__name__)

MAX_PARK_SECONDS = 60.0

PUBLISHED = Counter("layercake_relay_published_total", "Outbox rows published and acked")
DUPLICATES = Counter("layercake_relay_duplicates_total", "Re-publishes JetStream dropped")
FAILURES = Counter("layercake_relay_failures_total", "Publishes that failed and will retry")


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        batch: int = 512,
        ack_timeout: float = 5.0,
        poll_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.js = js
        self.batch = batch
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval
        self.clock = clock or SystemClock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Rows JetStream refused (e.g. no stream for the subject) wait here with a growing
        # back-off, so a batch of unpublishable rows never holds back the rows after them.
        self._parked: dict[int, tuple[float, int]] = {}  # id -> (retry at, failures)

    def notify(self) -> None:
        """Wakes the relay; safe to call from the database threads after a commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def fetch(self) -> list[OutboxMessage]:
        now = time.monotonic()
        waiting = [i for i, (retry_at, _) in self._parked.items() if retry_at > now]

        def read(session: Session) -> list[OutboxMessage]:
            query = select(outbox).order_by(outbox.c.id).limit(self.batch)
            if waiting:
                query = query.where(outbox.c.id.not_in(waiting))
            return [OutboxMessage(**row._asdict()) for row in session.execute(query)]

        return await self.db.transact(read)

    async def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
        """Publishes pipelined and waits for every ack; returns the ids JetStream acked."""
        futures = []
        for m in messages:
            headers = headers_for(m, m.created_time or self.clock.now())
            futures.append(await self.js.publish_async(m.subject, m.payload, headers=headers))
        results = await asyncio.gather(
            *(asyncio.wait_for(f, self.ack_timeout) for f in futures), return_exceptions=True
        )
        acked: list[int] = []
        for message, result in zip(messages, results, strict=True):
            assert message.id is not None
            if isinstance(result, BaseException):
                self._park(message, result)
                continue
            if result.duplicate:
                DUPLICATES.inc()
            self._parked.pop(message.id, None)
            acked.append(message.id)
        return acked

    def _park(self, message: OutboxMessage, error: BaseException) -> None:
        assert message.id is not None
        FAILURES.inc()
        failures = self._parked.get(message.id, (0.0, 0))[1] + 1
        delay = min(self.poll_interval * 2 ** (failures - 1), MAX_PARK_SECONDS)
        self._parked[message.id] = (time.monotonic() + delay, failures)
        log.warning(
            "publish failed; retrying later",
            extra={
                "event_id": message.event_id,
                "subject": message.subject,
                "failures": failures,
                "retry_in": delay,
                "error": repr(error),
            },
        )

    async def delete(self, ids: Sequence[int]) -> None:
        if ids:
            await self.db.transact(lambda s: s.execute(delete(outbox).where(outbox.c.id.in_(ids))))
            PUBLISHED.inc(len(ids))

    async def run_once(self) -> int:
        """Publishes one batch; returns how many rows it moved."""
        messages = await self.fetch()
        if not messages:
            return 0
        acked = await self.publish(messages)
        await self.delete(acked)
        return len(acked)

    async def flush(self) -> int:
        """Publishes until the outbox is empty or nothing moves (NATS down)."""
        total = 0
        while moved := await self.run_once():
            total += moved
        return total

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            # Cleared before the pass, so a commit notified during it wakes the next one.
            self._wake.clear()
            try:
                moved = await self.run_once()
            except Exception:
                log.exception("relay pass failed")
                moved = 0
            if moved >= self.batch:
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for w in pending:
                w.cancel()
