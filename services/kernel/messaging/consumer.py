"""Durable pull consumers that apply a fetched batch in one transaction.

Each message is claimed in the inbox in the same transaction as its effects, so
a redelivery is a no-op. A message whose handler keeps failing goes to the
dead-letter subject after `max_deliver` attempts, with the error in headers,
and the consumer moves on: a poison message never blocks the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter

from services.kernel import telemetry
from services.kernel.errors import Unprocessable
from services.kernel.messaging import subjects
from services.kernel.messaging.envelope import Envelope, EnvelopeError, open_envelope
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.tenants import is_tenant_id

log = logging.getLogger(__name__)

APPLIED = Counter("layercake_consumer_applied_total", "Messages applied", ["consumer"])
SKIPPED = Counter("layercake_consumer_duplicates_total", "Redeliveries skipped", ["consumer"])
FAILED = Counter("layercake_consumer_failures_total", "Handler failures", ["consumer"])
DEAD = Counter("layercake_consumer_dead_lettered_total", "Messages dead-lettered", ["consumer"])

# A handler may run more than once for one delivery (a batch that fails is applied again
# message by message); only a committed run counts, so its effects stay in the unit of work.
Handler = Callable[[UnitOfWork, Envelope], None]
MAX_RETRY_DELAY = 30.0


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # the handler raised: retried, dead-lettered after max_deliver
    POISON = "poison"  # no retry can help: dead-lettered at once
    RETRY = "retry"  # the batch's transaction failed (database down): retried, never DLQ'd


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: str = ""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer: its name, the stream and subject filter it reads, its handler."""

    durable: str
    stream: str
    filter_subject: str
    handler: Handler


class ConsumerRunner:
    def __init__(
        self,
        spec: ConsumerSpec,
        js: JetStreamContext,
        db: Database,
        uow: UnitOfWorkFactory,
        batch: int = 256,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        retry_delay: float = 0.5,
    ) -> None:
        self.spec = spec
        self.js = js
        self.db = db
        self.uow = uow
        self.batch = batch
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.retry_delay = retry_delay
        self._sub: JetStreamContext.PullSubscription | None = None

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            config = ConsumerConfig(
                durable_name=self.spec.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=self.spec.filter_subject,
                ack_wait=self.ack_wait,
                max_ack_pending=self.batch * 4,
            )
            # create-or-update, so a changed ack_wait or filter reaches an existing durable
            await self.js.add_consumer(self.spec.stream, config)
            self._sub = await self.js.pull_subscribe_bind(
                self.spec.durable, stream=self.spec.stream
            )
        return self._sub

    def apply(self, envelopes: Sequence[Envelope | EnvelopeError]) -> list[Result]:
        """Applies a batch in one transaction.

        The whole batch is tried first with one inbox query and one inbox insert; if any
        message fails, that attempt is rolled back and the batch is applied again with
        each message in its own savepoint, so a bad message costs only itself.
        """
        try:
            return self._apply_together(envelopes)
        except Exception as e:
            log.debug("batch fell back to one savepoint a message", extra={"error": repr(e)})
            return self._apply_one_by_one(envelopes)

    def _apply_together(self, envelopes: Sequence[Envelope | EnvelopeError]) -> list[Result]:
        name = self.spec.durable
        results: list[Result] = []
        with self.uow() as uow:
            ids = [e.event_id for e in envelopes if isinstance(e, Envelope)]
            done = uow.claimed(name, ids)
            fresh: list[str] = []
            for env in envelopes:
                if isinstance(env, EnvelopeError):
                    results.append(Result(Outcome.POISON, f"EnvelopeError: {env}"))
                elif env.event_id in done:
                    results.append(Result(Outcome.DUPLICATE))
                else:
                    with telemetry.span(f"consume {name}", env.carrier()):
                        self.spec.handler(uow, env)
                    done.add(env.event_id)
                    fresh.append(env.event_id)
                    results.append(Result(Outcome.APPLIED))
            uow.claim_all(name, fresh)
            uow.commit()
        return results

    def _apply_one_by_one(self, envelopes: Sequence[Envelope | EnvelopeError]) -> list[Result]:
        results: list[Result] = []
        with self.uow() as uow:
            for env in envelopes:
                if isinstance(env, EnvelopeError):
                    results.append(Result(Outcome.POISON, f"EnvelopeError: {env}"))
                    continue
                try:
                    with (
                        uow.session.begin_nested(),
                        telemetry.span(f"consume {self.spec.durable}", env.carrier()),
                    ):
                        if not uow.claim(self.spec.durable, env.event_id):
                            results.append(Result(Outcome.DUPLICATE))
                            continue
                        self.spec.handler(uow, env)
                    results.append(Result(Outcome.APPLIED))
                except Exception as e:
                    log.warning(
                        "handler failed",
                        extra={
                            "consumer": self.spec.durable,
                            "event_id": env.event_id,
                            "error": repr(e),
                        },
                    )
                    poison = isinstance(e, Unprocessable | DecodeError)
                    outcome = Outcome.POISON if poison else Outcome.FAILED
                    results.append(Result(outcome, f"{type(e).__name__}: {e}"))
            uow.commit()
        return results

    async def process(self, msgs: Sequence[Msg]) -> list[Result]:
        envelopes: list[Envelope | EnvelopeError] = []
        for m in msgs:
            try:
                envelopes.append(open_envelope(m.subject, m.headers, m.data))
            except EnvelopeError as e:
                envelopes.append(e)
        try:
            results = await self.db.run(self.apply, envelopes)
        except Exception as e:
            log.exception("batch transaction failed", extra={"consumer": self.spec.durable})
            results = [Result(Outcome.RETRY, f"{type(e).__name__}: {e}")] * len(msgs)
        for msg, result in zip(msgs, results, strict=True):
            await self._settle(msg, result)
        return results

    async def _settle(self, msg: Msg, result: Result) -> None:
        name = self.spec.durable
        if result.outcome is Outcome.APPLIED:
            APPLIED.labels(name).inc()
            await msg.ack()
            return
        if result.outcome is Outcome.DUPLICATE:
            SKIPPED.labels(name).inc()
            await msg.ack()
            return
        FAILED.labels(name).inc()
        attempts = msg.metadata.num_delivered or 1
        if result.outcome is Outcome.RETRY:
            # an outage is not the message's fault: back off, keep it, never dead-letter it
            await msg.nak(delay=min(self.retry_delay * attempts, MAX_RETRY_DELAY))
            return
        if result.outcome is Outcome.FAILED and attempts < self.max_deliver:
            await msg.nak(delay=self.retry_delay * attempts)
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

    async def run_once(self, timeout: float = 1.0) -> list[Result]:
        sub = await self.subscribe()
        try:
            msgs = await sub.fetch(self.batch, timeout=timeout)
        except TimeoutError:  # nats' own TimeoutError, and the bare asyncio one fetch also raises
            return []
        return await self.process(msgs)

    async def close(self) -> None:
        """Drops the pull subscription (the durable stays on the server).

        Late status replies to expired pulls sit unread in its queue, and
        `Client.drain()` would wait on them for its whole timeout.
        """
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def run(self, stop: asyncio.Event) -> None:
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
