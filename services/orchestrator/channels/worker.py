"""The loop every channel adapter runs: pull send commands, deliver each once, report.

A command's event id (fixed by its send id) is claimed in the adapter's own inbox after
a delivery, so a redelivered or re-published command is acknowledged without a second
delivery. Transient failures are retried with back-off (`nak(delay)`, kept by the
server, so a restart loses nothing); a command still failing after `max_attempts`, or
refused for good, is reported `bounced`. Each outcome is published as Feedback.

A command carries personal data in the clear (the address, the rendered content), so once
it is settled and acknowledged it is erased from the CHANNEL stream (JetStream overwrites
it on disk): a person forgotten later leaves nothing there. The adapter is the one reader
of its channel's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck
from sqlalchemy import select

from layercake.channel.v1 import channel_pb2
from services.kernel.clock import Clock, SystemClock
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import EnvelopeError, headers_for, open_envelope
from services.kernel.messaging.progress import keep_alive
from services.kernel.protobuf import to_timestamp
from services.kernel.store.database import Database
from services.kernel.store.schema import inbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.unsubscribe import feedback_message
from services.orchestrator.channels.sender import Attempt, Result, Sender

log = logging.getLogger(__name__)

KINDS = {
    Result.DELIVERED: channel_pb2.FEEDBACK_KIND_DELIVERED,
    Result.BOUNCED: channel_pb2.FEEDBACK_KIND_BOUNCED,
}
MAX_DELAY = 300.0
STREAM = "CHANNEL"


@dataclass(frozen=True)
class WorkerSettings:
    channel: str
    max_attempts: int = 5
    retry_delay: float = 1.0  # before the second attempt; doubling after
    ack_wait: float = 30.0
    batch: int = 256  # commands fetched, then claimed and reported together
    concurrency: int = 8
    tenants: str = "*"  # the subject's tenant token: one tenant, or all
    durable: str = ""  # default: channel-<channel>


class ChannelWorker:
    def __init__(
        self,
        settings: WorkerSettings,
        sender: Sender,
        js: JetStreamContext,
        db: Database,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.js = js
        self.db = db
        self.clock = clock or SystemClock()
        self.units = UnitOfWorkFactory(db.sessions, self.clock)
        self.durable = settings.durable or f"channel-{settings.channel}"
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._sub: JetStreamContext.PullSubscription | None = None

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subjects.channel_send(self.settings.tenants, self.settings.channel),
            ack_wait=self.settings.ack_wait,
            max_deliver=-1,  # the worker gives up itself, reporting `bounced`
            max_ack_pending=self.settings.batch * 4,
        )

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            await self.js.add_consumer(STREAM, self.consumer_config())
            self._sub = await self.js.pull_subscribe_bind(self.durable, stream=STREAM)
        return self._sub

    async def run_once(self, timeout: float = 1.0) -> int:
        """Fetches a batch and settles every message in it; returns how many.

        The batch's repeats are found with one inbox query; the rest are delivered
        concurrently; what was settled (delivered or bounced) is claimed in one
        transaction, reported with pipelined publishes, then acknowledged."""
        sub = await self.subscribe()
        try:
            msgs = await sub.fetch(self.settings.batch, timeout=timeout)
        except TimeoutError:
            return 0
        async with keep_alive(msgs, self.settings.ack_wait, self.durable):  # a slow server
            await self._settle(msgs)
        return len(msgs)

    async def _settle(self, msgs: list[Msg]) -> None:
        readable = [r for r in await asyncio.gather(*(self._read(m) for m in msgs)) if r]
        held = await self.db.run(self._delivered, [e for _, e, _ in readable])
        fresh = []
        for msg, event_id, command in readable:
            if event_id in held:
                await msg.ack()  # a repeat: delivered before, or earlier in this batch
                await self._erase(msg)
            else:
                held.add(event_id)
                fresh.append((msg, event_id, command))
        attempts = await asyncio.gather(*(self._deliver(msg, cmd) for msg, _, cmd in fresh))
        settled = [(r, a) for r, a in zip(fresh, attempts, strict=True) if a is not None]
        if settled:
            await self.db.run(self._claim, [event_id for (_, event_id, _), _ in settled])
            acks = [await self._report(cmd, a, _attempts(m)) for (m, _, cmd), a in settled]
            await asyncio.gather(*acks)
            for (msg, _, _), _ in settled:
                await msg.ack()
            for (msg, _, _), _ in settled:
                await self._erase(msg)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("channel pass failed", extra={"channel": self.settings.channel})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await self.sender.close()

    async def _read(self, msg: Msg) -> tuple[Msg, str, channel_pb2.SendCommand] | None:
        try:
            envelope = open_envelope(msg.subject, msg.headers, msg.data)
            return msg, envelope.event_id, channel_pb2.SendCommand.FromString(envelope.payload)
        except (EnvelopeError, DecodeError) as e:
            log.error("unreadable send command dropped", extra={"error": repr(e)})
            await msg.term()
            return None

    async def _erase(self, msg: Msg) -> None:
        """Deletes a settled command from the stream (overwritten on disk); a failure is
        logged and left to the stream's retention."""
        sequence = msg.metadata.sequence.stream
        try:
            await self.js.delete_msg(STREAM, sequence)
        except Exception as e:  # already gone, or NATS away: retention bounds it
            log.warning("settled command not erased", extra={"seq": sequence, "error": repr(e)})

    async def _deliver(self, msg: Msg, command: channel_pb2.SendCommand) -> Attempt | None:
        """The delivery's outcome, or None when it is left to a later attempt (nak'ed)."""
        async with self._slots:
            attempt = await self.sender.deliver(command)
        attempts = _attempts(msg)
        if attempt.result is not Result.RETRY:
            return attempt
        if attempts < self.settings.max_attempts:
            delay = min(self.settings.retry_delay * 2 ** (attempts - 1), MAX_DELAY)
            log.warning(
                "delivery failed, retrying",
                extra={"send_id": command.send_id, "attempt": attempts, "error": attempt.detail},
            )
            await msg.nak(delay=delay)
            return None
        return Attempt(Result.BOUNCED, f"gave up after {attempts} attempts: {attempt.detail}")

    def _delivered(self, event_ids: list[str]) -> set[str]:
        """Which of these commands were delivered before (one inbox query)."""
        if not event_ids:
            return set()
        with self.db.transaction() as session:
            stmt = select(inbox.c.event_id).where(
                inbox.c.consumer == self.durable, inbox.c.event_id.in_(event_ids)
            )
            return set(session.execute(stmt).scalars())

    def _claim(self, event_ids: list[str]) -> None:
        with self.units() as uow:
            uow.claim(self.durable, event_ids)
            uow.commit()

    async def _report(
        self, command: channel_pb2.SendCommand, attempt: Attempt, attempts: int
    ) -> asyncio.Future[PubAck]:
        """Publishes the feedback (pipelined); the future settles on JetStream's ack."""
        now = self.clock.now()
        feedback = channel_pb2.Feedback(
            tenant_id=command.tenant_id,
            send_id=command.send_id,
            channel=command.channel,
            profile_id=command.profile_id,
            kind=KINDS[attempt.result],
            detail=attempt.detail,
            occur_time=to_timestamp(now),
            attempts=attempts,
        )
        message = feedback_message(feedback, self.durable)
        headers = headers_for(message, now)
        return await self.js.publish_async(message.subject, message.payload, headers=headers)


def _attempts(msg: Msg) -> int:
    return msg.metadata.num_delivered or 1
