"""Durable pull consumers: at-least-once delivery, exactly-once effects, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import select

from services.kernel.clock import SystemClock
from services.kernel.errors import Unprocessable
from services.kernel.messaging.consumer import (
    ConsumerRunner,
    ConsumerSpec,
    Delivery,
    Handler,
    Outcome,
    Result,
    redelivery_backoff,
)
from services.kernel.messaging.envelope import Envelope, open_envelope
from services.kernel.messaging.subjects import dead_letter
from services.kernel.store.database import Database
from services.kernel.store.schema import inbox
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import (
    count_effects,
    effects,
    last_message_headers,
    make_message,
    publish,
    record_effect,
    subject_counts,
)
from tests.polling import eventually

ACK_WAIT = 1.0


def subject(tenant: str) -> str:
    return f"layercake.{tenant}.identity.thing_happened"


def runner(
    js: JetStreamContext,
    db: Database,
    handler: Handler,
    tenant: str,
    durable: str | None = None,
    kind: type[ConsumerRunner] = ConsumerRunner,
    **options: float,
) -> ConsumerRunner:
    """A consumer of the test tenant's subject; the same `durable` means the same consumer."""
    spec = ConsumerSpec(durable or random_id("k-"), "IDENTITY", subject(tenant), handler)
    uow = UnitOfWorkFactory(db.sessions, SystemClock())
    return kind(spec, js, db, uow, **options)  # type: ignore[arg-type]


async def outcomes_until(
    consumer: ConsumerRunner, count: int, timeout: float = 10
) -> list[Outcome]:
    """Runs passes until `count` messages were settled; the outcomes in order."""
    seen: list[Outcome] = []

    async def enough() -> bool:
        seen.extend(r.outcome for r in await consumer.run_once(timeout=0.2))
        return len(seen) >= count

    await eventually(enough, timeout)
    return seen


async def settled(consumer: ConsumerRunner) -> bool:
    """True once the server holds nothing pending or unacknowledged for this consumer."""
    info = await (await consumer.subscribe()).consumer_info()
    return info.num_ack_pending == 0 and info.num_pending == 0


def inbox_ids(db: Database, consumer: str) -> list[str]:
    with db.transaction() as s:
        return list(
            s.execute(select(inbox.c.event_id).where(inbox.c.consumer == consumer)).scalars()
        )


async def test_the_same_event_published_three_times_is_applied_once(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    message = make_message(subject(tenant), tenant)
    for attempt in range(3):  # new Nats-Msg-Id each time: JetStream stores all three
        await publish(js, message, msg_id=f"{message.event_id}-{attempt}")
    assert await subject_counts(js, "IDENTITY", message.subject) == {message.subject: 3}

    consumer = runner(js, db, record_effect("w"), tenant)
    assert await outcomes_until(consumer, 3) == [
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
    ]
    assert count_effects(db, message.event_id) == 1
    assert inbox_ids(db, consumer.spec.durable) == [message.event_id]
    await eventually(lambda: settled(consumer))


async def test_a_message_redelivered_after_commit_is_applied_once(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """Applied and committed, then the ack is lost twice (nak): three deliveries, one effect."""
    db = with_effects
    message = make_message(subject(tenant), tenant)
    await publish(js, message)
    consumer = runner(js, db, record_effect("w"), tenant)
    sub = await consumer.subscribe()

    outcomes: list[Outcome] = []
    for _ in range(2):
        (msg,) = await sub.fetch(1, timeout=5)
        envelope = open_envelope(msg.subject, msg.headers, msg.data)
        outcomes += [r.outcome for r in await db.run(consumer.apply, [Delivery(envelope)])]
        await msg.nak()  # as if the process died between commit and ack
    (msg,) = await sub.fetch(1, timeout=5)
    assert msg.metadata.num_delivered == 3
    outcomes += [r.outcome for r in await consumer.process([msg])]

    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert count_effects(db, message.event_id) == 1
    await eventually(lambda: settled(consumer))


class Watched(ConsumerRunner):
    """Tells the test when a fetch brought messages, before it applies them."""

    received: asyncio.Event

    async def process(
        self, msgs: Sequence[Msg], prepared: list[list[Delivery | Result]] | None = None
    ) -> list[Result]:
        self.received.set()
        return await super().process(msgs, prepared)


async def test_a_late_ack_after_redelivery_to_a_second_worker_gives_one_effect(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """Worker 1 applies and commits but acks after ack_wait; worker 2 gets the redelivery."""
    db = with_effects
    second_db = Database(db.url, workers=2)  # another process, its own pool
    try:
        message = make_message(subject(tenant), tenant)
        await publish(js, message)
        durable = random_id("k-")
        worker1 = runner(js, db, record_effect("w1"), tenant, durable, ack_wait=ACK_WAIT)
        worker2 = runner(js, second_db, record_effect("w2"), tenant, durable, ack_wait=ACK_WAIT)

        (msg,) = await (await worker1.subscribe()).fetch(1, timeout=5)
        envelope = open_envelope(msg.subject, msg.headers, msg.data)
        applied = await db.run(worker1.apply, [Delivery(envelope)])
        assert [r.outcome for r in applied] == [Outcome.APPLIED]

        # Worker 1 stalls past ack_wait: the server redelivers to worker 2.
        assert await outcomes_until(worker2, 1, timeout=ACK_WAIT + 5) == [Outcome.DUPLICATE]
        await msg.ack()  # worker 1's ack finally arrives

        await eventually(lambda: settled(worker1))
        assert count_effects(db, message.event_id) == 1
        with db.transaction() as s:
            assert s.execute(select(effects.c.worker)).scalars().all() == ["w1"]
    finally:
        second_db.dispose()


class Stalled(ConsumerRunner):
    """A worker whose process stalls: no progress signal reaches the server."""

    @contextlib.asynccontextmanager
    async def _keep_alive(self, msgs: Sequence[Msg]) -> AsyncIterator[None]:
        yield


async def test_redelivery_while_the_first_worker_is_still_in_its_transaction(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """Worker 2 claims the message while worker 1 holds it uncommitted: it waits, then skips."""
    db = with_effects
    second_db = Database(db.url, workers=2)
    entered, release = threading.Event(), threading.Event()

    def slow(uow: UnitOfWork, env: Envelope) -> None:
        record_effect("w1")(uow, env)
        entered.set()
        assert release.wait(15), "the test never released worker 1"

    try:
        message = make_message(subject(tenant), tenant)
        await publish(js, message)
        durable = random_id("k-")
        # batch=1 and no prefetch: no pull request is left waiting to catch the redelivery
        worker1 = runner(
            js, db, slow, tenant, durable, Stalled, ack_wait=ACK_WAIT, batch=1, prefetch=False
        )
        worker2 = runner(
            js, second_db, record_effect("w2"), tenant, durable, Watched, ack_wait=ACK_WAIT
        )
        assert isinstance(worker2, Watched)
        worker2.received = asyncio.Event()

        async def worker1_inside() -> bool:
            return entered.is_set()

        first = asyncio.create_task(worker1.run_once(timeout=5))
        await eventually(worker1_inside)
        second = asyncio.create_task(outcomes_until(worker2, 1, timeout=ACK_WAIT + 5))
        await asyncio.wait_for(worker2.received.wait(), ACK_WAIT + 5)
        release.set()  # worker 1 commits and acks (late); worker 2's claim then fails

        assert [r.outcome for r in await asyncio.wait_for(first, 10)] == [Outcome.APPLIED]
        assert await asyncio.wait_for(second, 10) == [Outcome.DUPLICATE]
        await eventually(lambda: settled(worker1))
        with db.transaction() as s:
            assert s.execute(select(effects.c.worker)).scalars().all() == ["w1"]
    finally:
        release.set()
        second_db.dispose()


async def test_a_poison_message_is_dead_lettered_and_the_rest_flow(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    before, poison, after = (make_message(subject(tenant), tenant) for _ in range(3))
    attempts: Counter[str] = Counter()
    poison_attempts_when_after_applied: list[int] = []

    def handler(uow: UnitOfWork, env: Envelope) -> None:
        attempts[env.event_id] += 1
        if env.event_id == poison.event_id:
            raise ValueError(f"cannot apply {env.event_id}")
        if env.event_id == after.event_id:
            poison_attempts_when_after_applied.append(attempts[poison.event_id])
        record_effect("w")(uow, env)

    for m in (before, poison, after):
        await publish(js, m)
    consumer = runner(js, db, handler, tenant, max_deliver=3, ack_wait=ACK_WAIT)
    dlq = dead_letter(tenant, consumer.spec.durable)

    async def dead_lettered() -> dict[str, str] | None:
        await consumer.run_once(timeout=0.2)
        return await last_message_headers(js, "DEADLETTER", dlq)

    headers = await eventually(dead_lettered, timeout=15)

    assert headers["ce-id"] == poison.event_id
    assert headers["lc-error"] == f"ValueError: cannot apply {poison.event_id}"
    assert headers["lc-attempts"] == "3"
    assert headers["lc-consumer"] == consumer.spec.durable
    assert headers["lc-original-subject"] == poison.subject
    assert "Nats-Msg-Id" not in headers
    dead = await js.get_last_msg("DEADLETTER", dlq)
    assert dead.data == poison.payload
    assert await subject_counts(js, "DEADLETTER", dlq) == {dlq: 1}

    # each delivery runs the handler twice: once with the whole batch, once on its own
    assert attempts[poison.event_id] == 2 * 3
    # `after` was applied during the poison's first delivery: it never held the stream up
    assert poison_attempts_when_after_applied == [2]
    assert count_effects(db) == 2
    assert count_effects(db, poison.event_id) == 0
    assert sorted(inbox_ids(db, consumer.spec.durable)) == sorted([before.event_id, after.event_id])
    await eventually(lambda: settled(consumer))


async def test_a_message_without_an_envelope_is_dead_lettered_by_its_subject_tenant(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    called: list[str] = []
    consumer = runner(
        js,
        db,
        lambda _uow, env: called.append(env.event_id),
        tenant,
        max_deliver=2,
    )
    await js.publish(subject(tenant), b"not an event", headers={"content-type": "text/plain"})
    dlq = dead_letter(tenant, consumer.spec.durable)

    async def dead_lettered() -> dict[str, str] | None:
        await consumer.run_once(timeout=0.2)
        return await last_message_headers(js, "DEADLETTER", dlq)

    headers = await eventually(dead_lettered, timeout=15)
    assert "missing headers ce-id, ce-type, ce-tenantid" in headers["lc-error"]
    assert headers["lc-attempts"] == "1"  # no retry can mend a missing envelope: at once
    assert called == []
    await eventually(lambda: settled(consumer))


async def test_a_failing_batch_transaction_is_retried_not_lost(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """Commits that fail (an outage) are retried with back-off while the runner holds the
    batch: applied once, never redelivered, never dead-lettered."""
    db = with_effects
    message = make_message(subject(tenant), tenant)
    await publish(js, message)
    failures = [RuntimeError("database went away"), RuntimeError("still away")]

    class FlakyCommit(ConsumerRunner):
        def apply(self, deliveries: Sequence[Delivery | Result]) -> list[Result]:
            if failures:
                raise failures.pop()
            return super().apply(deliveries)

    consumer = runner(
        js, db, record_effect("w"), tenant, kind=FlakyCommit, retry_delay=0.05, max_deliver=1
    )
    # max_deliver=1: a handler failure would dead-letter at once, an outage must not
    assert await outcomes_until(consumer, 1) == [Outcome.APPLIED]
    assert failures == []
    assert count_effects(db, message.event_id) == 1
    await eventually(lambda: settled(consumer))
    info = await (await consumer.subscribe()).consumer_info()
    assert info.num_redelivered == 0
    dlq = dead_letter(tenant, consumer.spec.durable)
    assert await subject_counts(js, "DEADLETTER", dlq) == {}


async def test_an_unprocessable_message_is_dead_lettered_without_retries(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """A handler that says no retry can help (Unprocessable) sends the message to the DLQ now."""
    db = with_effects

    def refuse(_uow: UnitOfWork, env: Envelope) -> None:
        raise Unprocessable(f"{env.event_id} names no profile")

    consumer = runner(js, db, refuse, tenant, max_deliver=5)  # a retry would wait 30 s
    await publish(js, make_message(subject(tenant), tenant))
    dlq = dead_letter(tenant, consumer.spec.durable)

    async def dead_lettered() -> dict[str, str] | None:
        await consumer.run_once(timeout=0.2)
        return await last_message_headers(js, "DEADLETTER", dlq)

    headers = await eventually(dead_lettered, timeout=10)
    assert headers["lc-attempts"] == "1" and "names no profile" in headers["lc-error"]


async def test_a_dead_letter_stays_in_the_tenant_of_the_subject_it_came_from(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """A message on tenant A's subject claiming tenant B (or no valid tenant) is A's problem."""
    db = with_effects
    consumer = runner(js, db, record_effect("w"), tenant, max_deliver=1)
    other = random_id("t")
    for claimed in (other, "not.a.token", "*"):
        headers = {"ce-id": random_id(), "ce-type": "T", "ce-tenantid": claimed}
        await js.publish(subject(tenant), b"spoofed", headers=headers)

    ours = dead_letter(tenant, consumer.spec.durable)

    async def all_dead_lettered() -> bool:
        await consumer.run_once(timeout=0.2)
        return (await subject_counts(js, "DEADLETTER", ours)).get(ours, 0) == 3

    await eventually(all_dead_lettered, timeout=10)
    assert await subject_counts(js, "DEADLETTER", f"layercake.{other}.>") == {}
    assert count_effects(db) == 0
    await eventually(lambda: settled(consumer))


async def test_a_changed_consumer_setting_reaches_the_existing_durable(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    first = runner(js, with_effects, record_effect("w"), tenant, ack_wait=30)
    await first.subscribe()
    await first.close()
    second = ConsumerRunner(first.spec, js, with_effects, first.uow, ack_wait=7, max_deliver=4)
    await second.subscribe()
    info = await js.consumer_info(first.spec.stream, first.spec.durable)
    assert info.config.ack_wait == 7
    # the server enforces attempts and back-off too: one delivery past the runner's limit
    assert info.config.max_deliver == 5
    assert info.config.backoff == [7, 14, 28, 56] == redelivery_backoff(7, 4)
    await second.close()


async def test_a_handler_sees_where_the_stream_keeps_its_message(
    js: JetStreamContext, database: Database, tenant: str
) -> None:
    seen: list[int] = []
    message = make_message(subject(tenant), tenant)
    await publish(js, message)
    stored = await js.get_last_msg("IDENTITY", message.subject)
    consumer = runner(js, database, lambda uow, e: seen.append(e.stream_sequence), tenant)
    assert await outcomes_until(consumer, 1) == [Outcome.APPLIED]
    assert seen == [stored.seq]
