"""Batch messages: each event of one JetStream message is applied once, as if it came alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from nats.js import JetStreamContext

from services.kernel.messaging.batch import batch_message, open_envelopes, without
from services.kernel.messaging.consumer import ConsumerRunner, Delivery, Outcome, Result
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork
from tests.conftest import random_id
from tests.integration.kernel.support import count_effects, make_message, publish, record_effect
from tests.integration.kernel.test_consumer import (
    inbox_ids,
    outcomes_until,
    runner,
    settled,
    subject,
)
from tests.polling import eventually

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def publish_batch(js: JetStreamContext, tenant: str, event_ids: list[str]) -> int:
    messages = [make_message(subject(tenant), tenant, e) for e in event_ids]
    headers, body = batch_message(messages, random_id("b-"), AT)
    ack = await js.publish(subject(tenant), body, headers=headers)
    return int(ack.seq)


async def test_each_event_of_a_batch_is_applied_once_with_its_own_id(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    alone = make_message(subject(tenant), tenant)
    await publish(js, alone)
    ids = [random_id("e-") for _ in range(3)]
    sequence = await publish_batch(js, tenant, [*ids, alone.event_id])
    seen: list[tuple[str, int]] = []
    handle = record_effect("w")

    def handler(uow: UnitOfWork, envelope: Envelope) -> None:
        seen.append((envelope.event_id, envelope.stream_sequence))
        handle(uow, envelope)

    consumer = runner(js, db, handler, tenant)
    assert await outcomes_until(consumer, 2) == [Outcome.APPLIED, Outcome.APPLIED]
    assert seen[1:] == [(i, sequence) for i in ids]  # the repeat inside it is not applied
    assert sorted(inbox_ids(db, consumer.spec.durable)) == sorted([*ids, alone.event_id])
    assert all(count_effects(db, i) == 1 for i in [*ids, alone.event_id])
    await eventually(lambda: settled(consumer))


async def test_a_batch_with_a_failing_event_comes_back_and_applies_only_what_is_left(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    ids = [random_id("e-") for _ in range(3)]
    await publish_batch(js, tenant, ids)
    failures = [ids[1], ids[1]]  # the first delivery tries it twice: batched, then alone
    handle = record_effect("w")

    def handler(uow: UnitOfWork, envelope: Envelope) -> None:
        if envelope.event_id in failures:
            failures.remove(envelope.event_id)
            raise RuntimeError("not this time")
        handle(uow, envelope)

    consumer = runner(js, db, handler, tenant, ack_wait=0.5)
    assert await outcomes_until(consumer, 2) == [Outcome.FAILED, Outcome.APPLIED]
    assert [count_effects(db, i) for i in ids] == [1, 1, 1]
    await eventually(lambda: settled(consumer))


def test_a_batch_less_some_events_keeps_the_rest_in_order() -> None:
    messages = [make_message("layercake.acme.ingest", "acme", f"e-{i}") for i in range(4)]
    headers, body = batch_message(messages, "b-1", AT)
    rest, left = without(body, {"e-1", "e-3"})
    assert left == 2
    envelopes = open_envelopes("layercake.acme.ingest", headers, rest, 7)
    assert [(e.event_id, e.stream_sequence, e.tenant_id) for e in envelopes] == [
        ("e-0", 7, "acme"),
        ("e-2", 7, "acme"),
    ]
    assert envelopes[0].payload == messages[0].payload


async def test_batch_messages_are_applied_in_transactions_of_about_a_fetch_of_events(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    db = with_effects
    ids = [[random_id("e-") for _ in range(5)] for _ in range(3)]
    for batch in ids:
        await publish_batch(js, tenant, batch)
    transactions: list[int] = []

    class Counted(ConsumerRunner):
        def apply(self, deliveries: Sequence[Delivery | Result]) -> list[Result]:
            transactions.append(len(deliveries))
            return super().apply(deliveries)

    consumer = runner(js, db, record_effect("w"), tenant, kind=Counted, batch=4)
    assert await outcomes_until(consumer, 3) == [Outcome.APPLIED] * 3
    assert transactions == [5, 5, 5]  # a message is never split, nor two put together past 4
    assert all(count_effects(db, i) == 1 for batch in ids for i in batch)
