"""Erases forgotten people's messages from the streams: their raw messages in `INGEST`
(where personal data arrives in clear) and what identity published about them in
`IDENTITY` (identifiers such as cookie and device ids in clear, traits, audiences).

Forgetting (and suppressing) queues the stream and sequence of each of a person's
messages in identity's database; this worker deletes each with JetStream's message
delete, which overwrites it on disk (`no_erase` false, the default), then drops it from
the queue. A failure leaves the rest queued for the next pass, so nothing is lost while
NATS is away. Followers lose nothing by an erasure that overtakes them: `ProfileForgotten`
and the merges and unmerges (ids only) stay, and a follower that had not yet read an
erased message would have deleted its copy at the forget anyway; a follower replaying the
stream later finds nothing of the person to bring back.

A consumer that gave up on a message kept a copy in `DEADLETTER` (30 days), of a raw
event or of a message about the person: a forget asks for a sweep of the tenant's dead
letters, which queues those holding a forgotten person's events like the rest.

A raw message goes only when an event of it carries a forgotten person's identifier: one
that fed the profile before an unmerge gave its identifiers to another person is theirs,
and kept. A batch message (the gateway writes one per accepted batch), or its dead
letter's copy, also holds other people's events. Its forgotten events are those carrying a forgotten
person's identifier (as ingest suppresses them); the rest are written again as a new
batch message first (its `Nats-Msg-Id` derived from the old sequence, so a retried pass
writes it once), the profiles they fed are moved to the new sequence, and only then is
the old message deleted. Consumers already applied the kept events by their ids (their inboxes skip
them); one that had not yet read the old message applies them from the new one, so no
one else's event is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Counter

from services.identity import forgetting
from services.identity.ports import DEADLETTER, INGEST, StreamMessage, Sweep
from services.identity.rules_cache import RulesCache
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.messaging import read_back, subjects
from services.kernel.messaging.batch import open_envelopes, without
from services.kernel.messaging.envelope import MSG_ID, EnvelopeError
from services.kernel.service_layer import ServiceLayer

log = logging.getLogger(__name__)

ERASED_EVENTS = Counter(
    "layercake_identity_ingest_events_erased_total", "Forgotten events erased from batch messages"
)

BATCH = 500
BATCHED = (INGEST, DEADLETTER)  # streams whose messages may hold several people's events
MAX_DEAD_LETTERS = 100_000  # a tenant's dead letters read by one sweep


class StreamEraser:
    def __init__(
        self,
        js: JetStreamContext,
        layer: ServiceLayer[SqlIdentityUnitOfWork],
        every: float,
        rules: RulesCache,
    ) -> None:
        self.js = js
        self.rules = rules
        self.layer = layer
        self.every = every
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def erase_pending(self) -> int:
        """Sweeps the dead letters asked for, then erases every queued message; returns how
        many. Raises when NATS fails (what is left stays queued)."""
        total = 0
        async with self._lock:
            for sweep in await self.layer.read(forgetting.pending_sweeps, BATCH):
                await self.layer.run(forgetting.swept, sweep, await self._dead_letters(sweep))
            while queued := await self.layer.read(forgetting.pending_erasures, BATCH):
                done: list[StreamMessage] = []
                try:
                    for message in queued:
                        await self.erase(message)
                        done.append(message)
                finally:
                    if done:
                        await self.layer.run(forgetting.erased, done)
                total += len(done)
        return total

    async def _dead_letters(self, sweep: Sweep) -> list[int]:
        """The tenant's dead letters holding a forgotten person's events (a dead-lettered
        raw event, or a message about them a follower set aside)."""
        tenant, found = sweep.tenant_id, []
        letters = await read_back.stored(
            self.js, DEADLETTER, subjects.dead_letter(tenant, "*"), MAX_DEAD_LETTERS
        )
        for msg in letters:
            sequence = msg.metadata.sequence.stream
            try:
                envelopes = open_envelopes(msg.subject, msg.headers, msg.data, sequence)
            except EnvelopeError:  # not a layercake message: no one's events
                continue
            if await self.layer.read(forgetting.forgotten_events, tenant, envelopes, self.rules):
                found.append(sequence)
        return found

    async def erase(self, message: StreamMessage) -> None:
        """Erases one message, or a batch message's forgotten events (the rest written
        again): a raw one in `INGEST`, or its copy in `DEADLETTER`."""
        stream, sequence = message
        if stream not in BATCHED:  # one event a message: all of it goes
            await self._delete(stream, sequence)
            return
        try:
            msg = await self.js.get_msg(stream, sequence)
        except NotFoundError:  # gone already (or aged out)
            return
        subject = msg.subject or ""
        try:
            envelopes = open_envelopes(subject, msg.headers, msg.data or b"", sequence)
        except EnvelopeError:  # not a layercake message: nothing to keep
            envelopes = []
        if not envelopes:  # nothing anyone could read: all of it goes
            await self._delete(stream, sequence)
            return
        tenant = envelopes[0].tenant_id
        drop = await self.layer.read(forgetting.forgotten_events, tenant, envelopes, self.rules)
        if not drop:  # another person's (theirs since an unmerge): kept
            log.info("no forgotten event in the message", extra={"sequence": sequence})
            return
        kept = [e for e in envelopes if e.event_id not in drop]
        if kept:
            body, _ = without(msg.data or b"", drop)
            headers = dict(msg.headers or {})
            rewrite_id = f"{headers.get('ce-id', '')}~erased@{sequence}"
            headers |= {"ce-id": rewrite_id, MSG_ID: rewrite_id, "lc-rewrite-of": str(sequence)}
            ack = await self.js.publish(subject, body, headers=headers)
            if stream == INGEST:  # a dead letter's copy fed no one
                await self.layer.run(
                    forgetting.rewritten, tenant, sequence, int(ack.seq), kept, self.rules
                )
        await self._delete(stream, sequence)
        ERASED_EVENTS.inc(len(drop))

    async def _delete(self, stream: str, sequence: int) -> None:
        with contextlib.suppress(NotFoundError):  # gone already (or aged out)
            await self.js.delete_msg(stream, sequence)

    def notify(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Passes on every notice and every `every` seconds, until `stop`."""
        while not stop.is_set():
            try:
                erased = await self.erase_pending()
                if erased:
                    log.info("stream messages erased", extra={"messages": erased})
            except Exception as e:  # NATS away: the queue waits for the next pass
                log.warning("erasing stream messages failed", extra={"error": repr(e)})
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
