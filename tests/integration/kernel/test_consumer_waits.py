"""A prepare step's NotReady holds its message (a dependency not caught up yet): prepared
again shortly, never redelivered meanwhile, and failed only after `max_wait` in vain."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from services.kernel.clock import SystemClock
from services.kernel.errors import NotReady
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.subjects import dead_letter
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import (
    count_effects,
    last_message_headers,
    make_message,
    publish,
    record_effect,
    subject_counts,
)
from tests.integration.kernel.test_consumer import settled, subject
from tests.polling import eventually


async def test_a_delivery_that_waits_past_max_wait_fails_and_is_dead_lettered(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    never, ready = (make_message(subject(tenant), tenant) for _ in range(2))
    tries: list[str] = []

    async def prepare(envelope: Envelope) -> None:
        tries.append(envelope.event_id)
        if envelope.event_id == never.event_id:
            raise NotReady("the peer never hears of it")

    handle = record_effect("w")

    def apply(uow: UnitOfWork, envelope: Envelope, prepared: None) -> None:
        handle(uow, envelope)

    spec = ConsumerSpec(random_id("k-"), "IDENTITY", subject(tenant), apply, prepare)
    uow = UnitOfWorkFactory(with_effects.sessions, SystemClock())
    runner = ConsumerRunner(
        spec, js, with_effects, uow, max_deliver=1, wait_delay=0.05, max_wait=1.0
    )
    for m in (never, ready):
        await publish(js, m)
    dlq = dead_letter(tenant, spec.durable)

    async def dead() -> bool:
        return await subject_counts(js, "DEADLETTER", dlq) == {dlq: 1}

    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await eventually(dead)
        await eventually(lambda: settled(runner))
    finally:
        stop.set()
        await running
    assert count_effects(with_effects, ready.event_id) == 1
    assert count_effects(with_effects, never.event_id) == 0
    assert tries.count(never.event_id) > 2  # prepared again while held
    headers = await last_message_headers(js, "DEADLETTER", dlq)
    assert headers is not None and "still waiting: NotReady" in headers["lc-error"]
    assert headers["lc-attempts"] == "1"  # the waits were no deliveries


async def test_held_messages_go_back_to_the_server_when_the_runner_stops(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    message = make_message(subject(tenant), tenant)
    peer_ready = False

    async def prepare(envelope: Envelope) -> None:
        if not peer_ready:
            raise NotReady("not yet")

    handle = record_effect("w")

    def apply(uow: UnitOfWork, envelope: Envelope, prepared: None) -> None:
        handle(uow, envelope)

    spec = ConsumerSpec(random_id("k-"), "IDENTITY", subject(tenant), apply, prepare)
    uow = UnitOfWorkFactory(with_effects.sessions, SystemClock())
    await publish(js, message)
    first = ConsumerRunner(spec, js, with_effects, uow, ack_wait=30.0)
    assert [r.outcome.value for r in await first.run_once(timeout=5)] == ["wait"]
    await first.close()  # gives it back: no 30 s ack wait before the next runner has it
    peer_ready = True
    second = ConsumerRunner(spec, js, with_effects, uow, ack_wait=30.0)

    async def applied() -> bool:
        await second.run_once(timeout=0.2)
        return count_effects(with_effects, message.event_id) == 1

    try:
        await eventually(applied)
    finally:
        await second.close()
