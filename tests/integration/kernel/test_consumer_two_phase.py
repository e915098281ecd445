"""Two-phase consumer handlers: I/O before the transaction, effects inside it, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from nats.js import JetStreamContext
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from services.kernel.clock import SystemClock
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.subjects import dead_letter
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import (
    count_effects,
    effects,
    make_message,
    publish,
    record_effect,
    subject_counts,
)
from tests.integration.kernel.test_consumer import outcomes_until, settled, subject
from tests.polling import eventually

SLOW_METHOD = "/layercake.test.Slow/Score"


class SlowScorer:
    """A tiny gRPC server whose one method answers only when the test releases it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.requests: list[bytes] = []

    async def score(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self.requests.append(request)
        self.entered.set()
        await self.release.wait()
        return b"scored"


@pytest.fixture
async def scorer() -> AsyncIterator[tuple[SlowScorer, grpc.aio.Channel]]:
    slow = SlowScorer()
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(slow.score)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("layercake.test.Slow", {"Score": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield slow, channel
    finally:
        slow.release.set()
        await channel.close()
        await server.stop(None)


def remote_prepare(channel: grpc.aio.Channel) -> Callable[[Envelope], Awaitable[str]]:
    """A prepare step that asks another service, with a deadline, before any transaction."""
    call = channel.unary_unary(SLOW_METHOD)

    async def prepare(envelope: Envelope) -> str:
        answer: bytes = await call(envelope.event_id.encode(), timeout=30)
        return answer.decode()

    return prepare


def record_prepared(uow: UnitOfWork, envelope: Envelope, prepared: str) -> None:
    uow.session.execute(insert(effects).values(event_id=envelope.event_id, worker=prepared))


def two_phase(
    js: JetStreamContext, db: Database, tenant: str, prepare: Any, **options: Any
) -> ConsumerRunner:
    spec = ConsumerSpec(random_id("k-"), "IDENTITY", subject(tenant), record_prepared, prepare)
    return ConsumerRunner(spec, js, db, UnitOfWorkFactory(db.sessions, SystemClock()), **options)


async def test_a_slow_remote_call_in_prepare_does_not_delay_another_consumers_commit(
    js: JetStreamContext,
    with_effects: Database,
    scorer: tuple[SlowScorer, grpc.aio.Channel],
) -> None:
    """One database worker for both consumers: were the slow call made inside a transaction,
    the other consumer could not commit until it answered (SQLite's write lock, the pool)."""
    slow, channel = scorer
    db = Database(with_effects.url, workers=1)
    stop = asyncio.Event()
    try:
        slow_tenant, fast_tenant = random_id("t"), random_id("t")
        slow_one = two_phase(js, db, slow_tenant, remote_prepare(channel))
        fast_spec = ConsumerSpec(
            random_id("k-"), "IDENTITY", subject(fast_tenant), record_effect("fast")
        )
        fast = ConsumerRunner(fast_spec, js, db, UnitOfWorkFactory(db.sessions, SystemClock()))
        tasks = [asyncio.create_task(r.run(stop)) for r in (slow_one, fast)]

        waiting = make_message(subject(slow_tenant), slow_tenant)
        await publish(js, waiting)
        await asyncio.wait_for(slow.entered.wait(), 10)
        quick = make_message(subject(fast_tenant), fast_tenant)
        await publish(js, quick)

        await eventually(lambda: _committed(db, quick.event_id))
        assert not slow.release.is_set() and count_effects(db, waiting.event_id) == 0

        slow.release.set()
        await eventually(lambda: _committed(db, waiting.event_id))
        with db.transaction() as s:
            query = select(effects.c.worker).where(effects.c.event_id == waiting.event_id)
            assert s.execute(query).scalar_one() == "scored"
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert slow.requests == [waiting.event_id.encode()]
    finally:
        stop.set()
        db.dispose()


async def _committed(db: Database, event_id: str) -> bool:
    return count_effects(db, event_id) == 1


async def test_slow_prepare_keeps_the_message_from_being_redelivered(
    js: JetStreamContext,
    with_effects: Database,
    tenant: str,
    scorer: tuple[SlowScorer, grpc.aio.Channel],
) -> None:
    """A prepare step longer than ack_wait: progress signals hold the message meanwhile."""
    slow, channel = scorer
    consumer = two_phase(js, with_effects, tenant, remote_prepare(channel), ack_wait=1.0)
    message = make_message(subject(tenant), tenant)
    await publish(js, message)
    first = asyncio.create_task(consumer.run_once(timeout=5))
    await asyncio.wait_for(slow.entered.wait(), 10)

    async def signalled_past_ack_wait() -> bool:
        sent = REGISTRY.get_sample_value(
            "layercake_consumer_in_progress_total", {"consumer": consumer.spec.durable}
        )
        return (sent or 0) >= 4  # at ack_wait / 3 apart: more than ack_wait has passed

    await eventually(signalled_past_ack_wait)
    slow.release.set()
    assert [r.outcome for r in await asyncio.wait_for(first, 10)] == [Outcome.APPLIED]
    await eventually(lambda: settled(consumer))
    info = await (await consumer.subscribe()).consumer_info()
    assert info.num_redelivered == 0
    assert len(slow.requests) == 1
    assert count_effects(with_effects, message.event_id) == 1


async def test_a_failing_prepare_fails_only_its_own_message(
    js: JetStreamContext, with_effects: Database, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = (make_message(subject(tenant), tenant) for _ in range(2))
    applied: list[str] = []

    async def prepare(envelope: Envelope) -> str:
        if envelope.event_id == bad.event_id:
            raise ConnectionError("peer unavailable")
        return "ok"

    def handle(uow: UnitOfWork, envelope: Envelope, prepared: str) -> None:
        applied.append(envelope.event_id)
        record_prepared(uow, envelope, prepared)

    spec = ConsumerSpec(random_id("k-"), "IDENTITY", subject(tenant), handle, prepare)
    uow = UnitOfWorkFactory(with_effects.sessions, SystemClock())
    consumer = ConsumerRunner(spec, js, with_effects, uow, max_deliver=1)
    for m in (good, bad):
        await publish(js, m)
    with caplog.at_level(logging.WARNING, "services.kernel.messaging.consumer"):
        outcomes = await outcomes_until(consumer, 2)
    assert sorted(o.value for o in outcomes) == ["applied", "failed"]
    assert applied == [good.event_id]  # the failed one never reached the transaction
    dlq = dead_letter(tenant, spec.durable)
    assert await subject_counts(js, "DEADLETTER", dlq) == {dlq: 1}
    failure = next(r for r in caplog.records if r.getMessage() == "prepare failed")
    assert "peer unavailable" in failure.__dict__["error"]
    await eventually(lambda: settled(consumer))
