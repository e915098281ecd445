"""The loop every channel adapter runs: pull send commands, deliver each once, report.

A command's event id (fixed by its send id) is claimed in the adapter's own inbox after
a delivery, so a redelivered or re-published command is acknowledged without a second
delivery. Transient failures are retried with back-off (`nak(delay)`, kept by the
server, so a restart loses nothing); a command still failing after `max_attempts`, or
refused for good, is reported `bounced`. Each outcome is published as Feedback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select

from layercake.channel.v1 import channel_pb2
from services.kernel.clock import Clock, SystemClock
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import EnvelopeError, headers_for, open_envelope
from services.kernel.protobuf import to_timestamp
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import inbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator.channels.sender import Attempt, Result, Sender
from services.orchestrator.domain.sending import stable_id

log = logging.getLogger(__name__)

FEEDBACK = channel_pb2.Feedback.DESCRIPTOR.full_name
KINDS = {
    Result.DELIVERED: channel_pb2.FEEDBACK_KIND_DELIVERED,
    Result.BOUNCED: channel_pb2.FEEDBACK_KIND_BOUNCED,
}
MAX_DELAY = 300.0


@dataclass(frozen=True)
class WorkerSettings:
    channel: str
    max_attempts: int = 5
    retry_delay: float = 1.0  # before the second attempt; doubling after
    ack_wait: float = 30.0
    batch: int = 64
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
            await self.js.add_consumer("CHANNEL", self.consumer_config())
            self._sub = await self.js.pull_subscribe_bind(self.durable, stream="CHANNEL")
        return self._sub

    async def run_once(self, timeout: float = 1.0) -> int:
        """Fetches a batch and settles every message in it; returns how many."""
        sub = await self.subscribe()
        try:
            msgs = await sub.fetch(self.settings.batch, timeout=timeout)
        except TimeoutError:
            return 0
        await asyncio.gather(*(self._one(m) for m in msgs))
        return len(msgs)

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

    async def _one(self, msg: Msg) -> None:
        async with self._slots:
            try:
                envelope = open_envelope(msg.subject, msg.headers, msg.data)
                command = channel_pb2.SendCommand.FromString(envelope.payload)
            except (EnvelopeError, DecodeError) as e:
                log.error("unreadable send command dropped", extra={"error": repr(e)})
                await msg.term()
                return
            if await self.db.run(self._delivered, envelope.event_id):
                await msg.ack()  # a repeat: delivered before
                return
            attempt = await self.sender.deliver(command)
            attempts = msg.metadata.num_delivered or 1
            if attempt.result is Result.RETRY and attempts < self.settings.max_attempts:
                delay = min(self.settings.retry_delay * 2 ** (attempts - 1), MAX_DELAY)
                log.warning(
                    "delivery failed, retrying",
                    extra={
                        "send_id": command.send_id,
                        "attempt": attempts,
                        "error": attempt.detail,
                    },
                )
                await msg.nak(delay=delay)
                return
            if attempt.result is Result.RETRY:
                attempt = Attempt(
                    Result.BOUNCED, f"gave up after {attempts} attempts: {attempt.detail}"
                )
            await self.db.run(self._claim, envelope.event_id)
            await self._report(command, attempt, attempts)
            await msg.ack()

    def _delivered(self, event_id: str) -> bool:
        with self.db.transaction() as session:
            stmt = select(inbox.c.event_id).where(
                inbox.c.consumer == self.durable, inbox.c.event_id == event_id
            )
            return session.execute(stmt).first() is not None

    def _claim(self, event_id: str) -> None:
        with self.units() as uow:
            uow.claim(self.durable, [event_id])
            uow.commit()

    async def _report(
        self, command: channel_pb2.SendCommand, attempt: Attempt, attempts: int
    ) -> None:
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
        message = OutboxMessage(
            subject=subjects.channel_feedback(command.tenant_id, command.channel),
            type=FEEDBACK,
            payload=feedback.SerializeToString(),
            tenant_id=command.tenant_id,
            event_id=stable_id(command.tenant_id, f"{command.send_id}:{attempt.result.value}"),
            source=self.durable,
            subject_ref=command.profile_id,
        )
        await self.js.publish(message.subject, message.payload, headers=headers_for(message, now))
