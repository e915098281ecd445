"""Broadcast subscriptions: every replica sees every event of chosen subjects, in order.

Each process reads through its own ordered ephemeral consumer (push, no acks,
in memory on the server), so in-memory caches are invalidated by events on every
replica; a shared durable consumer would hand each event to one replica only.
Start-up takes the stream's position first, then builds the cache from the store
(`load`), then reads from just after that position: nothing recorded between the
load and the subscription is missed. A gap (a lost message, a NATS restart that
dropped the consumer, missed heartbeats) recreates the consumer from the last
stream sequence applied; when the stream no longer holds that far back, the
cache is loaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter

from services.kernel.messaging.envelope import Envelope, EnvelopeError, open_envelope

log = logging.getLogger(__name__)

APPLIED = Counter("layercake_broadcast_applied_total", "Broadcast events applied", ["name"])
FAILED = Counter("layercake_broadcast_failures_total", "Broadcast handler failures", ["name"])
RESUMED = Counter("layercake_broadcast_resumes_total", "Ordered consumers recreated", ["name"])

STATUS = "Status"
CONTROL = "100"  # idle heartbeat or flow-control request
STALLED = "Nats-Consumer-Stalled"
LAST_CONSUMER = "Nats-Last-Consumer"

BroadcastHandler = Callable[[Envelope], Awaitable[None]]


@dataclass(frozen=True)
class BroadcastSpec:
    """What one process follows: a stream's subjects, a handler, and how to build the cache.

    `handler` runs on the event loop for each event in stream order and must be
    idempotent (an event loaded from the store may also arrive here). `load` builds
    the cache from the store; it runs at start and again after an unrecoverable gap.
    """

    name: str
    stream: str
    filter_subject: str
    handler: BroadcastHandler
    load: Callable[[], Awaitable[None]] | None = None


class Broadcast:
    """One ordered ephemeral consumer, recreated from the last applied sequence on a gap."""

    def __init__(
        self,
        spec: BroadcastSpec,
        nc: Client,
        js: JetStreamContext,
        heartbeat: float = 2.0,
        retry_delay: float = 0.5,
    ) -> None:
        self.spec = spec
        self.nc = nc
        self.js = js
        self.heartbeat = heartbeat
        self.retry_delay = retry_delay
        self.last_sequence = 0  # the last stream sequence applied (or covered by the load)
        self._next_consumer_sequence = 1
        self._sub: Subscription | None = None
        self._consumer = ""

    async def start(self) -> None:
        """Position, then load, then subscribe: an event either is in the load or follows it."""
        await self._load()
        await self._subscribe()

    async def _load(self) -> None:
        info = await self.js.stream_info(self.spec.stream)
        self.last_sequence = info.state.last_seq
        if self.spec.load is not None:
            await self.spec.load()

    async def _subscribe(self) -> None:
        """A fresh consumer from `last_sequence + 1`; reloads first if the stream lost that."""
        await self._unsubscribe()
        info = await self.js.stream_info(self.spec.stream)
        if info.state.first_seq > self.last_sequence + 1:
            log.warning(
                "broadcast gap: stream no longer holds the next event; reloading",
                extra={"broadcast": self.spec.name, "after": self.last_sequence},
            )
            await self._load()
        inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(inbox)
        config = ConsumerConfig(
            deliver_subject=inbox,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.last_sequence + 1,
            ack_policy=AckPolicy.NONE,
            filter_subject=self.spec.filter_subject,
            flow_control=True,
            idle_heartbeat=self.heartbeat,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=max(30.0, self.heartbeat * 10),
        )
        created = await self.js.add_consumer(self.spec.stream, config)
        self._consumer = created.name
        self._next_consumer_sequence = 1

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        consumer, self._consumer = self._consumer, ""
        if consumer:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.spec.stream, consumer)

    async def _resume(self, why: str, stop: asyncio.Event) -> None:
        """Recreates the consumer until it works (NATS may still be restarting) or `stop`."""
        RESUMED.labels(self.spec.name).inc()
        log.warning(
            "broadcast resuming",
            extra={"broadcast": self.spec.name, "reason": why, "after": self.last_sequence},
        )
        while not stop.is_set():
            try:
                await self._subscribe()
                return
            except Exception as e:
                log.warning(
                    "broadcast resume failed; retrying",
                    extra={"broadcast": self.spec.name, "error": repr(e)},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_delay)

    async def step(self) -> bool:
        """Reads and handles one message or control message; False when the stream stalled."""
        assert self._sub is not None, "start() first"
        try:
            msg = await self._sub.next_msg(timeout=self.heartbeat * 3)
        except TimeoutError:
            return False  # not even a heartbeat: the consumer is gone
        headers = msg.headers or {}
        if headers.get(STATUS) == CONTROL:
            return await self._control(msg, headers)
        sequence = msg.metadata.sequence
        if sequence.consumer != self._next_consumer_sequence:
            return False  # a message was lost between server and us
        self._next_consumer_sequence += 1
        await self._apply(msg)
        self.last_sequence = sequence.stream
        return True

    async def _control(self, msg: Msg, headers: dict[str, str]) -> bool:
        if msg.reply:  # flow control: every earlier message is handled, say so
            await self.nc.publish(msg.reply)
            return True
        if headers.get(STALLED):
            await self.nc.publish(headers[STALLED])
        last = headers.get(LAST_CONSUMER)
        # a heartbeat names the last message sent: one we never saw is a gap
        return last is None or int(last) == self._next_consumer_sequence - 1

    async def _apply(self, msg: Msg) -> None:
        try:
            envelope = open_envelope(msg.subject, msg.headers, msg.data)
        except EnvelopeError as e:
            FAILED.labels(self.spec.name).inc()
            log.warning(
                "broadcast event unreadable", extra={"broadcast": self.spec.name, "error": str(e)}
            )
            return
        try:
            await self.spec.handler(envelope)
        except Exception:
            # a cache cannot dead-letter: say so loudly and go on with the next event
            FAILED.labels(self.spec.name).inc()
            log.exception(
                "broadcast handler failed",
                extra={"broadcast": self.spec.name, "event_id": envelope.event_id},
            )
            return
        APPLIED.labels(self.spec.name).inc()

    async def run(self, stop: asyncio.Event) -> None:
        """Follows the stream until `stop` is set, resuming after every gap."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                step = asyncio.ensure_future(self.step())
                await asyncio.wait([step, stopped], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await step
                    break
                try:
                    healthy = step.result()
                except Exception as e:
                    healthy = False
                    log.warning(
                        "broadcast read failed",
                        extra={"broadcast": self.spec.name, "error": repr(e)},
                    )
                if not healthy:
                    await self._resume("gap or missed heartbeats", stop)
        finally:
            stopped.cancel()
            await self._unsubscribe()
