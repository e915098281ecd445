"""Messages a dependency is not ready for: held by the consumer, not redelivered, until it is.

A consumer's prepare step raises `NotReady` when another service has not caught up with
a message yet (identity has not resolved the person of an ingested event). That is no
fault of the message: a redelivery would wait the ack wait at least and count toward
dead-lettering. So the runner holds such a message here, signalling progress so the
server does not redeliver it, and prepares its waiting events again after 250 ms,
doubling to 1 s, while the rest of its batch settles. A delivery waits at most
`max_wait` (10 min by default; identity never resolves some events, a forgotten
person's): then it counts as a failed one, so the message is dead-lettered only when
`max_deliver` deliveries all waited that long. A stop gives the held messages back
(a nak: this or another replica takes them again).
Held messages stay unacknowledged, so the consumer's `max_ack_pending` bounds how many
may wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from prometheus_client import Counter

from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.progress import keep_alive

log = logging.getLogger(__name__)

WAITED = Counter(
    "layercake_consumer_waits_total", "Messages held for a dependency not ready", ["consumer"]
)
MAX_WAIT_DELAY = 1.0  # a ready message waits a second at most


@dataclass(frozen=True)
class Held:
    """A held message, the events of it still waiting, and how often they were tried."""

    msg: Msg
    envelopes: Sequence[Envelope]
    tries: int
    due: float  # event loop time
    since: float  # when this delivery was first held


class WaitingRoom:
    """The held messages of one consumer, and the task that tries them again when due."""

    def __init__(
        self,
        retry: Callable[[list[Held]], Awaitable[None]],
        consumer: str,
        ack_wait: float,
        first_delay: float,
        max_wait: float,
    ) -> None:
        self._retry = retry  # prepares and applies the due ones, holding again what waits
        self.consumer = consumer
        self.ack_wait = ack_wait
        self.first_delay = first_delay
        self.max_wait = max_wait
        self._held: list[Held] = []
        self._msgs: list[Msg] = []  # held or being tried again: kept alive
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def hold(self, msg: Msg, envelopes: Sequence[Envelope], before: Held | None = None) -> bool:
        """Holds `msg` until its `envelopes` are tried again (`before`: how it was held
        until now); False when this delivery has waited `max_wait` already."""
        now = asyncio.get_running_loop().time()
        tries, since = (before.tries, before.since) if before is not None else (0, now)
        if now - since >= self.max_wait:
            return False
        delay = min(self.first_delay * 2**tries, MAX_WAIT_DELAY)
        self._held.append(Held(msg, envelopes, tries + 1, now + delay, since))
        self._msgs.append(msg)
        WAITED.labels(self.consumer).inc()
        self._changed.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async with keep_alive(self._msgs, self.ack_wait, self.consumer):
            while True:
                now = loop.time()
                due = [h for h in self._held if h.due <= now]
                if not due:
                    soonest = min((h.due for h in self._held), default=None)
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        wait = None if soonest is None else soonest - now
                        await asyncio.wait_for(self._changed.wait(), wait)
                    continue
                self._held = [h for h in self._held if h.due > now]
                try:
                    await self._retry(due)
                except Exception:
                    log.exception("held messages failed", extra={"consumer": self.consumer})
                    await _give_back([h.msg for h in due])  # redelivered by the server
                self._msgs[:] = [h.msg for h in self._held]

    async def close(self) -> None:
        """Stops trying and gives every held message back to the server at once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        msgs = list({id(m): m for m in self._msgs}.values())
        self._held, self._msgs[:] = [], []
        await _give_back(msgs)


async def _give_back(msgs: Sequence[Msg]) -> None:
    for m in msgs:
        with contextlib.suppress(Exception):  # settled already, or the connection is gone
            await m.nak()
