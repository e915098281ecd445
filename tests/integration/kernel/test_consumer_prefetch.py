"""A full batch fetches the next one early; a runner closed with one in hand gives it back."""

from __future__ import annotations

from nats.js import JetStreamContext

from services.kernel.messaging.consumer import Outcome
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from tests.integration.kernel.support import count_effects, make_message, publish, record_effect
from tests.integration.kernel.test_consumer import runner, subject


async def published(js: JetStreamContext, tenant: str, count: int) -> list[OutboxMessage]:
    messages = [make_message(subject(tenant), tenant) for _ in range(count)]
    for m in messages:
        await publish(js, m)
    return messages


async def test_a_full_batch_fetches_the_next_while_it_applies(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    messages = await published(js, tenant, 5)
    consumer = runner(js, with_effects, record_effect("w"), tenant, batch=2)
    try:
        outcomes = [r.outcome for r in await consumer.run_once(timeout=2)]
        assert outcomes == [Outcome.APPLIED] * 2
        assert consumer._ahead is not None  # the next batch is on its way already
        for _ in range(2):
            outcomes += [r.outcome for r in await consumer.run_once(timeout=2)]
        assert outcomes == [Outcome.APPLIED] * 5
        assert consumer._ahead is None  # a short batch: nothing more was waiting
        assert all(count_effects(with_effects, m.event_id) == 1 for m in messages)
    finally:
        await consumer.close()


async def test_a_batch_fetched_early_is_given_back_at_close(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """Naked at close, so another worker gets it now, not after the 30 s ack wait."""
    messages = await published(js, tenant, 4)
    first = runner(js, with_effects, record_effect("w1"), tenant, batch=2)
    durable = first.spec.durable
    assert len(await first.run_once(timeout=2)) == 2
    assert first._ahead is not None
    await first.close()
    second = runner(js, with_effects, record_effect("w2"), tenant, durable, batch=2)
    try:
        results = await second.run_once(timeout=5)
        assert [r.outcome for r in results] == [Outcome.APPLIED] * 2
    finally:
        await second.close()
    assert all(count_effects(with_effects, m.event_id) == 1 for m in messages)
