"""Durable pull consumers that apply a fetched batch in one transaction.

Each message is claimed in the inbox in the same transaction as its effects, so
a redelivery is a no-op. A handler may have an async `prepare` step (a call to
another service, ONNX scoring) that runs before any transaction opens, so no
database lock is held across I/O. A message whose handler keeps failing goes to
the dead-letter subject after `max_deliver` attempts; a transient database
error is retried with back-off and never dead-lettered, and so is a prepare step's
`NotReady` (a dependency not caught up yet: see `waiting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar, overload

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.context import Context
from prometheus_client import Counter

from services.kernel import telemetry
from services.kernel.errors import NotReady, Unprocessable
from services.kernel.messaging import subjects
from services.kernel.messaging.batch import open_envelopes
from services.kernel.messaging.envelope import Envelope, EnvelopeError
from services.kernel.messaging.progress import keep_alive
from services.kernel.messaging.waiting import Held, WaitingRoom
from services.kernel.store.database import Database
from services.kernel.store.transient import is_transient
from services.kernel.tenants import is_tenant_id
from services.kernel.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

APPLIED = Counter("layercake_consumer_applied_total", "Messages applied", ["consumer"])
SKIPPED = Counter("layercake_consumer_duplicates_total", "Redeliveries skipped", ["consumer"])
FAILED = Counter("layercake_consumer_failures_total", "Handler failures", ["consumer"])
RETRIED = Counter(
    "layercake_consumer_retries_total", "Transient database errors retried", ["consumer"]
)
DEAD = Counter("layercake_consumer_dead_lettered_total", "Messages dead-lettered", ["consumer"])

T = TypeVar("T")
W = TypeVar("W", bound=AbstractUnitOfWork)

# A handler may run more than once for one delivery (a batch that fails is applied again
# message by message); only a committed run counts, so its effects stay in the unit of work.
Handler = Callable[[W, Envelope], None]
MAX_RETRY_DELAY = 30.0
MAX_REDELIVERY_DELAY = 600.0


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # the handler raised: retried, dead-lettered after max_deliver
    POISON = "poison"  # no retry can help: dead-lettered at once
    RETRY = "retry"  # a transient database error or outage: retried, never dead-lettered
    WAIT = "wait"  # prepare raised NotReady: held and prepared again, never dead-lettered


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: str = ""
    waiting: Envelope | None = None  # WAIT: the event to prepare again


@dataclass(frozen=True)
class Delivery:
    """A message ready for its transaction: the envelope and what `prepare` made of it."""

    envelope: Envelope
    prepared: Any = None


@dataclass(frozen=True, init=False)
class ConsumerSpec(Generic[W]):
    """A durable consumer: its name, the stream and subject filter it reads, its handler.

    With `prepare`, the handler is two-phase: `prepare(envelope)` runs first, outside any
    transaction (it may do I/O and may run again on redelivery), then
    `handler(uow, envelope, prepared)` applies the effects once, in the batch's transaction.

    `warm(uow, deliveries)`, when given, runs in the batch's transaction before its handlers
    with every delivery they will apply (its envelope, and what `prepare` made of it): it
    may read in bulk what they will read one by one (a cache of the unit of work); nothing
    may depend on it having run.
    """

    durable: str
    stream: str
    filter_subject: str
    handler: Callable[..., None]
    prepare: Callable[[Envelope], Awaitable[Any]] | None
    warm: Callable[[W, Sequence[Delivery]], None] | None

    @overload
    def __init__(
        self,
        durable: str,
        stream: str,
        filter_subject: str,
        handler: Handler[W],
        *,
        warm: Callable[[W, Sequence[Delivery]], None] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        durable: str,
        stream: str,
        filter_subject: str,
        handler: Callable[[W, Envelope, T], None],
        prepare: Callable[[Envelope], Awaitable[T]],
        *,
        warm: Callable[[W, Sequence[Delivery]], None] | None = None,
    ) -> None: ...

    def __init__(
        self,
        durable: str,
        stream: str,
        filter_subject: str,
        handler: Callable[..., None],
        prepare: Callable[[Envelope], Awaitable[Any]] | None = None,
        *,
        warm: Callable[[W, Sequence[Delivery]], None] | None = None,
    ) -> None:
        set_field = object.__setattr__  # frozen: the dataclass way to set fields in __init__
        set_field(self, "durable", durable)
        set_field(self, "stream", stream)
        set_field(self, "filter_subject", filter_subject)
        set_field(self, "handler", handler)
        set_field(self, "prepare", prepare)
        set_field(self, "warm", warm)

    def apply(self, uow: W, delivery: Delivery) -> None:
        if self.prepare is None:
            self.handler(uow, delivery.envelope)
        else:
            self.handler(uow, delivery.envelope, delivery.prepared)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Marks a task's error as seen: an early fetch that failed is raised again by the
    `run_once` that awaits it, or dropped unseen by `close()`, never logged as lost."""
    if not task.cancelled():
        task.exception()


# What settles a message from its events' results: the first outcome found in this order.
_SETTLING_ORDER = (Outcome.RETRY, Outcome.FAILED, Outcome.POISON, Outcome.WAIT, Outcome.APPLIED)


def _worst(results: Sequence[Result]) -> Result:
    """A message's result from its events': a redelivery re-applies only what did not commit
    (the inbox skips the rest), so any failure holds the whole message back."""
    for outcome in _SETTLING_ORDER:
        for r in results:
            if r.outcome is outcome:
                return r
    return Result(Outcome.DUPLICATE)


def _chunks(
    per_message: list[list[Delivery | Result]], events: int
) -> list[list[list[Delivery | Result]]]:
    """Whole messages, in order, grouped so a transaction holds about `events` events (a
    message carrying more is a group of its own)."""
    chunks: list[list[list[Delivery | Result]]] = [[]]
    count = 0
    for message in per_message:
        if chunks[-1] and count + len(message) > events:
            chunks.append([])
            count = 0
        chunks[-1].append(message)
        count += len(message)
    return chunks


def _traces(deliveries: Sequence[Delivery | Result]) -> list[Context | None]:
    """Each message's trace context (None where it carries none, or is settled already),
    read once per traceparent: the events of one ingest request share theirs."""
    read: dict[str, Context | None] = {}
    found: list[Context | None] = []
    for d in deliveries:
        if isinstance(d, Result) or not d.envelope.traceparent:
            found.append(None)
            continue
        parent = d.envelope.traceparent
        if parent not in read:
            read[parent] = telemetry.extracted(d.envelope.carrier())
        found.append(read[parent])
    return found


def _linked(traces: Sequence[Context | None]) -> list[Context]:
    return [t for t in traces if t is not None]


def redelivery_backoff(ack_wait: float, max_deliver: int) -> list[float]:
    """The one retry schedule, kept by the server: the wait before each redelivery of a
    message that failed or was never acknowledged. The first is `ack_wait` (the server
    takes it as such), then doubling; one per attempt the runner allows."""
    cap = max(ack_wait, MAX_REDELIVERY_DELAY)
    return [min(ack_wait * 2**i, cap) for i in range(max_deliver)]


class ConsumerRunner(Generic[W]):
    def __init__(
        self,
        spec: ConsumerSpec[W],
        js: JetStreamContext,
        db: Database,
        uow: Callable[[], W],
        batch: int = 256,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        retry_delay: float = 0.5,  # first wait before a transient error is retried
        wait_delay: float = 0.25,  # first wait before a NotReady message is prepared again
        max_wait: float = 600.0,  # a delivery held longer counts as failed
        prepare_concurrency: int = 32,
        prefetch: bool = True,
    ) -> None:
        self.spec = spec
        self.prefetch = prefetch
        self.js = js
        self.db = db
        self.uow = uow
        self.batch = batch
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.retry_delay = retry_delay
        self.backoff = redelivery_backoff(ack_wait, max_deliver)
        self._prepare_slots = asyncio.Semaphore(prepare_concurrency)
        self._sub: JetStreamContext.PullSubscription | None = None
        self._stop = asyncio.Event()
        # the next batch, fetched and prepared early, and its messages once fetched
        self._ahead: asyncio.Task[tuple[list[Msg], list[list[Delivery | Result]]]] | None = None
        self._held: list[Msg] = []
        self._applied = APPLIED.labels(spec.durable)  # counted a message at a time
        self._waiting = WaitingRoom(self._retry_held, spec.durable, ack_wait, wait_delay, max_wait)

    def consumer_config(self) -> ConsumerConfig:
        """Attempts and back-off are enforced by the server too: one delivery more than the
        runner allows, so a message whose handler never settles (the process died, again
        and again) comes back once more and is dead-lettered without running it."""
        return ConsumerConfig(
            durable_name=self.spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.spec.filter_subject,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver + 1,
            backoff=self.backoff,
            max_ack_pending=self.batch * 4,
        )

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            # create-or-update, so a changed setting or filter reaches an existing durable
            await self.js.add_consumer(self.spec.stream, self.consumer_config())
            self._sub = await self.js.pull_subscribe_bind(
                self.spec.durable, stream=self.spec.stream
            )
        return self._sub

    def apply(self, deliveries: Sequence[Delivery | Result]) -> list[Result]:
        """Applies a batch in one transaction; a `Result` (settled already) passes through.

        The whole batch is tried first, claimed in the inbox with one statement; if any
        message fails, that attempt is rolled back and the batch is applied again with
        each message in its own savepoint, so a bad message costs only itself.

        One span covers the batch (linked to each message's trace); each message is applied
        in its own trace context, so what its handler publishes continues its trace.
        """
        try:
            return self._apply_together(deliveries)
        except Exception as e:
            log.warning(
                "batch failed, applying it one message at a time",
                extra={"consumer": self.spec.durable, "error": repr(e)},
            )
            return self._apply_one_by_one(deliveries)

    def _apply_together(self, deliveries: Sequence[Delivery | Result]) -> list[Result]:
        name = self.spec.durable
        results: list[Result] = []
        traces = _traces(deliveries)
        with self.uow() as uow, telemetry.span(f"consume {name}", links=_linked(traces)):
            ids = [d.envelope.event_id for d in deliveries if isinstance(d, Delivery)]
            fresh = uow.claim(name, ids)  # one statement; its rows go if a handler fails
            if self.spec.warm is not None:
                todo = [d for d in deliveries if isinstance(d, Delivery)]
                self.spec.warm(uow, [d for d in todo if d.envelope.event_id in fresh])
            for d, trace in zip(deliveries, traces, strict=True):
                if isinstance(d, Result):
                    results.append(d)
                elif d.envelope.event_id not in fresh:
                    results.append(Result(Outcome.DUPLICATE))
                else:
                    with telemetry.within(trace):
                        self.spec.apply(uow, d)
                    fresh.discard(d.envelope.event_id)  # the same event twice in one batch
                    results.append(Result(Outcome.APPLIED))
            uow.commit()
        return results

    def _apply_one_by_one(self, deliveries: Sequence[Delivery | Result]) -> list[Result]:
        results: list[Result] = []
        traces = _traces(deliveries)
        name = self.spec.durable
        with self.uow() as uow, telemetry.span(f"consume {name}", links=_linked(traces)):
            for d, trace in zip(deliveries, traces, strict=True):
                if isinstance(d, Result):
                    results.append(d)
                    continue
                try:
                    with uow.savepoint(), telemetry.within(trace):
                        if not uow.claim(self.spec.durable, [d.envelope.event_id]):
                            results.append(Result(Outcome.DUPLICATE))
                            continue
                        self.spec.apply(uow, d)
                    results.append(Result(Outcome.APPLIED))
                except Exception as e:
                    results.append(self._failure(d.envelope, e, "handler failed"))
            uow.commit()
        return results

    def _failure(self, envelope: Envelope, error: Exception, what: str) -> Result:
        """What a handler's (or prepare's) exception means for its message."""
        if is_transient(error):
            outcome = Outcome.RETRY
        elif isinstance(error, Unprocessable | DecodeError):
            outcome = Outcome.POISON
        else:
            outcome = Outcome.FAILED
        log.warning(
            what,
            extra={
                "consumer": self.spec.durable,
                "event_id": envelope.event_id,
                "outcome": outcome.value,
                "error": repr(error),
            },
        )
        return Result(outcome, f"{type(error).__name__}: {error}")

    async def _prepare_one(self, envelope: Envelope) -> Delivery | Result:
        assert self.spec.prepare is not None
        async with self._prepare_slots:
            try:
                with telemetry.span(f"prepare {self.spec.durable}", envelope.carrier()):
                    return Delivery(envelope, await self.spec.prepare(envelope))
            except NotReady as e:
                return Result(Outcome.WAIT, f"NotReady: {e}", waiting=envelope)
            except Exception as e:
                result = self._failure(envelope, e, "prepare failed")
                # the prepare step touches no database: its failure is the message's
                retry = result.outcome is Outcome.RETRY
                return Result(Outcome.FAILED, result.error) if retry else result

    async def _prepare(self, msgs: Sequence[Msg]) -> list[list[Delivery | Result]]:
        """Opens each message into the events it carries (a batch message carries many) and
        runs the prepare steps, concurrently but bounded: one list per message. Without a
        prepare step nothing is awaited (no task a message)."""

        async def prepared(opened: list[Envelope] | Result) -> list[Delivery | Result]:
            if isinstance(opened, Result):
                return [opened]
            return list(await asyncio.gather(*(self._prepare_one(e) for e in opened)))

        opened = [self._open(m) for m in msgs]
        if self.spec.prepare is None:
            return [[o] if isinstance(o, Result) else [Delivery(e) for e in o] for o in opened]
        return list(await asyncio.gather(*(prepared(o) for o in opened)))

    def _open(self, msg: Msg) -> list[Envelope] | Result:
        """The events a message carries, or why it settles without them."""
        try:
            envelopes = open_envelopes(
                msg.subject, msg.headers, msg.data, msg.metadata.sequence.stream or 0
            )
        except EnvelopeError as e:
            return Result(Outcome.POISON, f"EnvelopeError: {e}")
        attempts = msg.metadata.num_delivered or 1
        if attempts > self.max_deliver:
            return Result(Outcome.FAILED, f"not settled in {self.max_deliver} deliveries")
        return envelopes

    async def _apply_until_done(self, deliveries: list[Delivery | Result]) -> list[Result]:
        """Applies the batch; what failed for a transient reason is applied again with
        back-off, holding the messages (never a redelivery, so never dead-lettered),
        until it succeeds or the runner stops."""
        results = await self._transact(deliveries)
        attempt = 0
        while not self._stop.is_set():
            again = [i for i, r in enumerate(results) if r.outcome is Outcome.RETRY]
            if not again:
                break
            RETRIED.labels(self.spec.durable).inc(len(again))
            delay = min(self.retry_delay * 2**attempt, MAX_RETRY_DELAY)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            retried = await self._transact([deliveries[i] for i in again])
            for i, result in zip(again, retried, strict=True):
                results[i] = result
        return results

    async def _transact(self, deliveries: list[Delivery | Result]) -> list[Result]:
        if not any(isinstance(d, Delivery) for d in deliveries):
            return [d for d in deliveries if isinstance(d, Result)]
        try:
            return await self.db.run(self.apply, deliveries)
        except Exception as e:
            log.warning(
                "batch transaction failed",
                extra={"consumer": self.spec.durable, "error": repr(e)},
            )
            failed = Result(Outcome.RETRY, f"{type(e).__name__}: {e}")
            return [d if isinstance(d, Result) else failed for d in deliveries]

    def _keep_alive(self, msgs: Sequence[Msg]) -> contextlib.AbstractAsyncContextManager[None]:
        """Tells the server the batch is still being worked on (slow prepare steps, retries),
        so it does not redeliver it elsewhere meanwhile."""
        return keep_alive(msgs, self.ack_wait, self.spec.durable)

    async def process(
        self, msgs: Sequence[Msg], prepared: list[list[Delivery | Result]] | None = None
    ) -> list[Result]:
        """Prepares (unless `prepared` already), applies and settles a fetched batch; one
        result per message (a batch message's is the worst of its events'). A message left
        waiting (WAIT) is held, not settled, while the rest of the batch settles."""
        async with self._keep_alive(msgs):
            per_message = prepared if prepared is not None else await self._prepare(msgs)
            per_event = await self._apply_messages(per_message)
        return [await self._conclude(m, r) for m, r in zip(msgs, per_event, strict=True)]

    async def _apply_messages(
        self, per_message: list[list[Delivery | Result]]
    ) -> list[list[Result]]:
        results: list[list[Result]] = []
        for chunk in _chunks(per_message, self.batch):  # batch messages: bounded transactions
            flat = [d for events in chunk for d in events]
            applied = iter(await self._apply_until_done(flat))
            results += [[next(applied) for _ in events] for events in chunk]
        return results

    async def _conclude(self, msg: Msg, events: list[Result], held: Held | None = None) -> Result:
        """Settles a message by its events' results, or holds it while some still wait (a
        delivery that waited `max_wait` in vain counts as failed)."""
        result = _worst(events)
        if result.outcome is Outcome.WAIT:
            waiting = [r.waiting for r in events if r.waiting is not None]
            if self._waiting.hold(msg, waiting, held):
                return result
            result = Result(Outcome.FAILED, f"still waiting: {result.error}")
        await self._settle(msg, result)
        return result

    async def _retry_held(self, due: list[Held]) -> None:
        """Prepares the held messages' waiting events again; applies and settles those
        now ready, and holds again what still waits."""
        per_message = await asyncio.gather(
            *(asyncio.gather(*(self._prepare_one(e) for e in h.envelopes)) for h in due)
        )
        per_event = await self._apply_messages([list(m) for m in per_message])
        for held, events in zip(due, per_event, strict=True):
            await self._conclude(held.msg, events, held)

    async def _settle(self, msg: Msg, result: Result) -> None:
        if result.outcome is Outcome.APPLIED:
            self._applied.inc()
            await msg.ack()
            return
        if result.outcome is Outcome.DUPLICATE:
            SKIPPED.labels(self.spec.durable).inc()
            await msg.ack()
            return
        FAILED.labels(self.spec.durable).inc()
        attempts = msg.metadata.num_delivered or 1
        if result.outcome is Outcome.RETRY:
            # only when stopping: not the message's fault, another replica takes it over
            await msg.nak(delay=min(self.retry_delay * attempts, MAX_RETRY_DELAY))
            return
        if result.outcome is Outcome.FAILED and attempts < self.max_deliver:
            await msg.nak(delay=self.backoff[attempts - 1])
            return
        await self.dead_letter(msg, result.error, attempts)
        await msg.ack()

    async def dead_letter(self, msg: Msg, error: str, attempts: int) -> None:
        # The subject's tenant token, not the header: a spoofed or malformed ce-tenantid
        # must neither reach another tenant's DLQ nor make the subject unpublishable.
        tenant = subjects.tenant_of(msg.subject)
        if not tenant:
            claimed = (msg.headers or {}).get("ce-tenantid", "")
            tenant = claimed if is_tenant_id(claimed) else ""
        headers = dict(msg.headers or {})
        headers.pop("Nats-Msg-Id", None)
        headers |= {
            "lc-error": error[:1000],
            "lc-attempts": str(attempts),
            "lc-consumer": self.spec.durable,
            "lc-original-subject": msg.subject,
        }
        await self.js.publish(
            subjects.dead_letter(tenant or "unknown", self.spec.durable), msg.data, headers=headers
        )
        DEAD.labels(self.spec.durable).inc()
        log.error(
            "message dead-lettered",
            extra={"consumer": self.spec.durable, "attempts": attempts, "error": error},
        )

    async def _fetch(self, timeout: float) -> list[Msg]:
        sub = await self.subscribe()
        try:
            return await sub.fetch(self.batch, timeout=timeout)
        except TimeoutError:  # nats' own TimeoutError, and the bare asyncio one fetch also raises
            return []

    async def run_once(self, timeout: float = 1.0) -> list[Result]:
        """Fetches a batch and settles it. After a full batch more are likely waiting: the
        next one is fetched and prepared at once, on the event loop, while this one is
        applied (the database work runs in a thread), and the next call takes it. So a
        `prepare` may run before the previous batch's effects commit, as it already runs
        beside its own batch's other prepares: it must not depend on them."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            msgs, prepared = await ahead
            self._held = []
        else:
            msgs, prepared = await self._fetch(timeout), None
        if not msgs:
            return []
        if self.prefetch and len(msgs) >= self.batch and not self._stop.is_set():
            self._ahead = asyncio.create_task(self._fetch_ahead(timeout))
            self._ahead.add_done_callback(_retrieved)
        return await self.process(msgs, prepared)

    async def _fetch_ahead(self, timeout: float) -> tuple[list[Msg], list[list[Delivery | Result]]]:
        msgs = self._held = await self._fetch(timeout)
        async with self._keep_alive(msgs):
            return msgs, await self._prepare(msgs)

    async def _give_back_ahead(self) -> None:
        """A batch fetched early but never applied goes back to the server for another
        delivery now, instead of after `ack_wait`."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead
        held, self._held = self._held, []
        for m in held:
            with contextlib.suppress(Exception):
                await m.nak()

    async def close(self) -> None:
        """Gives back a batch fetched early and the held messages, then drops the pull
        subscription (the durable stays on the server).

        Late status replies to expired pulls sit unread in its queue, and
        `Client.drain()` would wait on them for its whole timeout.
        """
        await self._give_back_ahead()
        await self._waiting.close()
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.subscribe()
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception:
                    log.exception("consumer pass failed", extra={"consumer": self.spec.durable})
                    await asyncio.sleep(self.retry_delay)
        finally:
            await self.close()
