"""Transient database errors are retried with back-off, never dead-lettered; a delivery the
runner never settled is dead-lettered once the server's attempts run out."""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter

import psycopg.errors
import pytest
from nats.js import JetStreamContext
from sqlalchemy import exc

from services.kernel.errors import ConcurrencyError
from services.kernel.messaging.consumer import Outcome
from services.kernel.messaging.envelope import Envelope
from services.kernel.messaging.subjects import dead_letter
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork
from tests.integration.kernel.support import (
    count_effects,
    last_message_headers,
    make_message,
    publish,
    record_effect,
    subject_counts,
)
from tests.integration.kernel.test_consumer import (
    ACK_WAIT,
    outcomes_until,
    runner,
    settled,
    subject,
)
from tests.polling import eventually


def _locked() -> Exception:
    return exc.OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


def _deadlock() -> Exception:
    return exc.OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected("deadlock"))


TRANSIENT = {
    "concurrency": lambda: ConcurrencyError("stream moved past version 3"),
    "sqlite-locked": _locked,
    "pg-deadlock": _deadlock,
}


@pytest.mark.parametrize("make_error", TRANSIENT.values(), ids=TRANSIENT.keys())
async def test_a_transient_error_in_the_one_by_one_fallback_is_retried_never_dead_lettered(
    js: JetStreamContext,
    with_effects: Database,
    tenant: str,
    make_error: type[Exception],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One message of a batch meets a transient error three times (batch and fallback):
    the others commit at once, it commits on a retry, and max_deliver=1 never kicks in."""
    db = with_effects
    messages = [make_message(subject(tenant), tenant) for _ in range(3)]
    unlucky = messages[1].event_id
    tries: Counter[str] = Counter()

    def handler(uow: UnitOfWork, env: Envelope) -> None:
        tries[env.event_id] += 1
        if env.event_id == unlucky and tries[unlucky] <= 3:
            raise make_error()
        record_effect("w")(uow, env)

    for m in messages:
        await publish(js, m)
    consumer = runner(js, db, handler, tenant, max_deliver=1, retry_delay=0.05)
    with caplog.at_level(logging.WARNING, "services.kernel.messaging.consumer"):
        assert await outcomes_until(consumer, 3) == [Outcome.APPLIED] * 3
    assert tries[unlucky] == 4
    assert all(count_effects(db, m.event_id) == 1 for m in messages)
    dlq = dead_letter(tenant, consumer.spec.durable)
    assert await subject_counts(js, "DEADLETTER", dlq) == {}
    await eventually(lambda: settled(consumer))
    info = await (await consumer.subscribe()).consumer_info()
    assert info.num_redelivered == 0  # held and retried by the runner, not redelivered
    batch_failed = [r for r in caplog.records if r.getMessage().startswith("batch failed")]
    assert batch_failed and batch_failed[0].levelno == logging.WARNING
    assert type(make_error()).__name__ in batch_failed[0].__dict__["error"]


async def test_a_delivery_past_max_deliver_is_dead_lettered_without_running_the_handler(
    js: JetStreamContext, with_effects: Database, tenant: str
) -> None:
    """The runner allows 2 attempts; the server one more, for a message whose attempts
    never settled (the process died each time): that one is dead-lettered unhandled."""
    db = with_effects
    called: list[str] = []

    def handler(uow: UnitOfWork, env: Envelope) -> None:
        called.append(env.event_id)

    consumer = runner(js, db, handler, tenant, max_deliver=2, ack_wait=ACK_WAIT)
    message = make_message(subject(tenant), tenant)
    await publish(js, message)
    sub = await consumer.subscribe()
    for _ in range(2):  # two deliveries the "crashed" process never settles
        (msg,) = await sub.fetch(1, timeout=10)
        await msg.nak()
    dlq = dead_letter(tenant, consumer.spec.durable)

    async def dead_lettered() -> dict[str, str] | None:
        await consumer.run_once(timeout=0.2)
        return await last_message_headers(js, "DEADLETTER", dlq)

    headers = await eventually(dead_lettered, timeout=15)
    assert headers["lc-attempts"] == "3"
    assert "not settled in 2 deliveries" in headers["lc-error"]
    assert called == []
    await eventually(lambda: settled(consumer))
    assert count_effects(db, message.event_id) == 0
