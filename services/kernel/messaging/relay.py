"""The outbox relay: publishes committed integration events to JetStream.

It never remembers "the last id it sent": it reads whatever rows are in the
outbox, so a transaction that took a lower id but committed later is still
published (the classic high-water-mark bug). Rows are deleted only once
JetStream acked them; a crash in between re-publishes, and the
`Nats-Msg-Id` header makes JetStream drop the duplicate.

A row no retry can publish (larger than the server's max payload, a subject or
header NATS refuses, a stream that refuses its size) is set aside, so it never
holds back the other rows or tenants: a small notice goes to
`layercake.<tenant>.dlq.relay` (stream `DEADLETTER`; event id, type, original
subject, size and reason in headers, no body), the row is deleted, and
`layercake_relay_dead_lettered_total{reason}` counts it. The event itself stays
in the producer's append-only `events` table, where the notice's `ce-id` finds
it. Rows that fail for reasons a retry can fix (NATS down, no ack) are parked
with a growing back-off instead.

A producer that must later find what it published (identity erases a forgotten person's
messages from its stream) passes `on_relayed`: it is called with each acked row's stream
and sequence in the transaction that deletes the rows, so nothing is published unrecorded
once that commits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.errors import BadHeaderError, BadSubjectError, MaxPayloadError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError
from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.kernel.clock import Clock, SystemClock
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import MSG_ID, headers_for
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import outbox
from services.kernel.tenants import is_tenant_id

log = logging.getLogger(__name__)

MAX_PARK_SECONDS = 60.0
DEAD_LETTER_CONSUMER = "relay"
STREAM_MESSAGE_TOO_LARGE = 10054  # JetStream: "message size exceeds maximum allowed"
HEADER_OVERHEAD = 12  # "NATS/1.0\r\n" + the blank line that ends the headers

PUBLISHED = Counter("layercake_relay_published_total", "Outbox rows published and acked")
DUPLICATES = Counter("layercake_relay_duplicates_total", "Re-publishes JetStream dropped")
FAILURES = Counter("layercake_relay_failures_total", "Publishes that failed and will retry")
DEAD_LETTERED = Counter(
    "layercake_relay_dead_lettered_total",
    "Outbox rows no retry can publish, set aside with a dead-letter notice",
    ["reason"],
)


@dataclass(frozen=True)
class Relayed:
    """An outbox row JetStream acked, and where it stored it."""

    message: OutboxMessage
    stream: str
    sequence: int


# Called in the transaction that deletes the acked rows, with the relay's clock's now.
RelayHook = Callable[[Session, Sequence[Relayed], datetime], None]


class Unpublishable(Exception):
    """A row no retry can publish; `reason` labels the metric."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def wire_size(payload: bytes, headers: dict[str, str]) -> int:
    """What the server counts against `max_payload`: the body plus the encoded headers."""
    return len(payload) + HEADER_OVERHEAD + sum(len(k) + len(v) + 4 for k, v in headers.items())


def unpublishable(error: BaseException) -> Unpublishable | None:
    """The error as a permanent refusal, or None when a later pass may succeed."""
    if isinstance(error, Unpublishable):
        return error
    if isinstance(error, MaxPayloadError):
        return Unpublishable("too_large", "larger than the NATS max payload")
    if isinstance(error, BadSubjectError):
        return Unpublishable("bad_subject", "NATS refuses the subject")
    if isinstance(error, BadHeaderError):
        return Unpublishable("bad_header", "NATS refuses a header")
    if isinstance(error, APIError) and error.err_code == STREAM_MESSAGE_TOO_LARGE:
        return Unpublishable("too_large", f"the stream refused it: {error.description}")
    return None


def _header(value: str, limit: int = 300) -> str:
    """A header value that cannot break the NATS header block."""
    return value.replace("\r", " ").replace("\n", " ")[:limit]


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        batch: int = 512,
        ack_timeout: float = 5.0,
        poll_interval: float = 1.0,
        clock: Clock | None = None,
        max_payload: int | None = None,
        on_relayed: RelayHook | None = None,
    ) -> None:
        self.db = db
        self.on_relayed = on_relayed
        self.js = js
        self.batch = batch
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval
        self.clock = clock or SystemClock()
        # The server's limit (from its INFO); a bigger publish would make it close the connection.
        self.max_payload = max_payload or int(js._nc.max_payload)
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

        return await self.db.read(read)

    async def _send(self, message: OutboxMessage) -> asyncio.Future[PubAck]:
        headers = headers_for(message, message.created_time or self.clock.now())
        size = wire_size(message.payload, headers)
        if size > self.max_payload:
            raise Unpublishable(
                "too_large", f"{size} bytes exceed the NATS max payload of {self.max_payload}"
            )
        future: asyncio.Future[PubAck] = await self.js.publish_async(
            message.subject, message.payload, headers=headers
        )
        return future

    async def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
        """Publishes pipelined and waits for every ack; returns the ids that are done with:
        acked by JetStream, or set aside with a dead-letter notice."""
        return (await self._publish(messages))[0]

    async def _publish(self, messages: Sequence[OutboxMessage]) -> tuple[list[int], list[Relayed]]:
        """The ids done with, and the rows JetStream acked with where it stored them."""
        done: list[int] = []
        relayed: list[Relayed] = []
        sent: list[tuple[OutboxMessage, asyncio.Future[PubAck]]] = []
        for m in messages:
            try:  # one row's refusal must never abort the batch
                sent.append((m, await self._send(m)))
            except Exception as e:
                if await self._refused(m, e):
                    done.append(self._id(m))
        results = await asyncio.gather(
            *(asyncio.wait_for(f, self.ack_timeout) for _, f in sent), return_exceptions=True
        )
        acked = 0
        for (message, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                if await self._refused(message, result):
                    done.append(self._id(message))
                continue
            if result.duplicate:
                DUPLICATES.inc()
            acked += 1
            self._parked.pop(self._id(message), None)
            done.append(self._id(message))
            relayed.append(Relayed(message, result.stream, int(result.seq)))
        PUBLISHED.inc(acked)
        return done, relayed

    @staticmethod
    def _id(message: OutboxMessage) -> int:
        assert message.id is not None
        return message.id

    async def _refused(self, message: OutboxMessage, error: BaseException) -> bool:
        """Sets a permanently refused row aside (True), or parks it for a retry (False)."""
        refusal = unpublishable(error)
        if refusal is None:
            self._park(message, error)
            return False
        try:
            await self.dead_letter(message, refusal)
        except Exception as e:  # NATS is down too: keep the row, try again later
            self._park(message, e)
            return False
        self._parked.pop(self._id(message), None)
        return True

    async def dead_letter(self, message: OutboxMessage, refusal: Unpublishable) -> None:
        """Publishes a small notice in place of the row: what it was, and why it cannot go."""
        tenant = message.tenant_id if is_tenant_id(message.tenant_id) else "unknown"
        headers = {
            "ce-id": _header(message.event_id),
            "ce-type": _header(message.type),
            "ce-tenantid": tenant,
            "ce-source": _header(message.source),
            "lc-error": _header(str(refusal), 1000),
            "lc-reason": refusal.reason,
            "lc-consumer": DEAD_LETTER_CONSUMER,
            "lc-original-subject": _header(message.subject),
            "lc-payload-bytes": str(len(message.payload)),
            # one notice per row, even when a crash makes the relay set it aside twice
            MSG_ID: _header(f"relay-dead-{message.event_id}"),
        }
        subject = subjects.dead_letter(tenant, DEAD_LETTER_CONSUMER)
        await self.js.publish(subject, b"", headers=headers, timeout=self.ack_timeout)
        DEAD_LETTERED.labels(refusal.reason).inc()
        log.error(
            "outbox row set aside: it can never be published",
            extra={
                "event_id": message.event_id,
                "subject": message.subject[:300],
                "tenant": tenant,
                "reason": refusal.reason,
                "error": str(refusal),
                "dead_letter_subject": subject,
            },
        )

    def _park(self, message: OutboxMessage, error: BaseException) -> None:
        FAILURES.inc()
        failures = self._parked.get(self._id(message), (0.0, 0))[1] + 1
        delay = min(self.poll_interval * 2 ** (failures - 1), MAX_PARK_SECONDS)
        self._parked[self._id(message)] = (time.monotonic() + delay, failures)
        log.warning(
            "publish failed; retrying later",
            extra={
                "event_id": message.event_id,
                "subject": message.subject[:300],
                "failures": failures,
                "retry_in": delay,
                "error": repr(error)[:1000],
            },
        )

    async def delete(self, ids: Sequence[int], relayed: Sequence[Relayed] = ()) -> None:
        """Deletes the rows done with; `on_relayed` records the acked ones in the same
        transaction."""
        if not ids:
            return
        now = self.clock.now()

        def settle(session: Session) -> None:
            session.execute(delete(outbox).where(outbox.c.id.in_(ids)))
            if self.on_relayed is not None and relayed:
                self.on_relayed(session, relayed, now)

        await self.db.transact(settle)

    async def run_once(self) -> int:
        """Publishes one batch; returns how many rows it moved (published or set aside)."""
        messages = await self.fetch()
        if not messages:
            return 0
        done, relayed = await self._publish(messages)
        await self.delete(done, relayed)
        return len(done)

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
