"""The outbox relay against a real nats-server: crash re-publish, late commits, wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.kernel.clock import FixedClock
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Outcome
from services.kernel.messaging.envelope import headers_for
from services.kernel.messaging.relay import OutboxRelay, Relayed, Unpublishable
from services.kernel.store.database import Database
from services.kernel.store.limits import StoreLimits
from services.kernel.store.records import OutboxMessage
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.kernel.support import (
    count_effects,
    last_message_headers,
    make_message,
    record_effect,
    subject_counts,
)
from tests.polling import eventually


def subject(tenant: str, event: str = "thing_happened") -> str:
    return f"layercake.{tenant}.identity.{event}"


def commit_outbox(uow: UnitOfWorkFactory, *messages: OutboxMessage) -> None:
    with uow() as u:
        for m in messages:
            u.publish(m)
        u.commit()


def outbox_size(db: Database) -> int:
    with db.transaction() as s:
        return int(s.execute(select(func.count()).select_from(outbox)).scalar_one())


def duplicates_seen() -> float:
    return REGISTRY.get_sample_value("layercake_relay_duplicates_total") or 0.0


async def test_relay_publishes_with_cloudevents_headers_and_empties_the_outbox(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    message = make_message(subject(tenant), tenant)
    commit_outbox(uow, message)
    assert await OutboxRelay(database, js).flush() == 1
    assert outbox_size(database) == 0
    headers = await last_message_headers(js, "IDENTITY", message.subject)
    assert headers is not None
    assert headers["ce-id"] == headers["Nats-Msg-Id"] == message.event_id
    assert headers["ce-tenantid"] == tenant
    assert headers["ce-type"] == message.type
    # ce-time is the time the event was committed, from the unit of work's clock.
    assert datetime.fromisoformat(headers["ce-time"]) == datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_relay_killed_before_delete_republishes_and_jetstream_drops_it(
    js: JetStreamContext, uow: UnitOfWorkFactory, with_effects: Database, tenant: str
) -> None:
    database = with_effects
    message = make_message(subject(tenant), tenant)
    commit_outbox(uow, message)

    crashed = OutboxRelay(database, js)
    pending = await crashed.fetch()
    assert [m.event_id for m in pending] == [message.event_id]
    assert await crashed.publish(pending) == [pending[0].id]
    # ...the process dies here: the row was published but never deleted.
    assert outbox_size(database) == 1

    before = duplicates_seen()
    assert await OutboxRelay(database, js).run_once() == 1
    assert duplicates_seen() == before + 1
    assert outbox_size(database) == 0
    assert await subject_counts(js, "IDENTITY", message.subject) == {message.subject: 1}

    # The same publish once more, by hand: JetStream answers with the original sequence.
    first = await js.get_last_msg("IDENTITY", message.subject)
    again = await js.publish(
        message.subject,
        pending[0].payload,
        headers=headers_for(pending[0], pending[0].created_time or datetime.now(UTC)),
    )
    assert again.duplicate
    assert again.seq == first.seq

    spec = ConsumerSpec(random_id("k-"), "IDENTITY", message.subject, record_effect("w"))
    runner = ConsumerRunner(spec, js, database, uow)
    assert [r.outcome for r in await runner.run_once(timeout=2)] == [Outcome.APPLIED]
    assert await runner.run_once(timeout=0.2) == []
    assert count_effects(database, message.event_id) == 1


async def test_a_rolled_back_outbox_row_is_never_published(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    with uow() as u:
        u.publish(make_message(subject(tenant), tenant))
    assert await OutboxRelay(database, js).run_once() == 0
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {}


async def test_a_lower_id_committed_later_is_still_published(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    if database.is_sqlite:
        pytest.skip(
            "SQLite serialises writers (BEGIN IMMEDIATE): B cannot insert or commit while "
            "A's transaction is open, so out-of-order commits cannot happen"
        )
    early, late = (
        make_message(subject(tenant, "a"), tenant),
        make_message(subject(tenant, "b"), tenant),
    )
    relay = OutboxRelay(database, js)

    with uow() as a:
        a.publish(early)  # takes the lower id, and stays open
        a_id = a.session.execute(select(outbox.c.id)).scalar_one()
        commit_outbox(uow, late)
        with database.transaction() as s:
            b_id = s.execute(select(outbox.c.id)).scalar_one()
        assert a_id < b_id

        assert await relay.run_once() == 1
        assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {late.subject: 1}
        a.commit()

    assert await relay.run_once() == 1
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {
        late.subject: 1,
        early.subject: 1,
    }
    assert outbox_size(database) == 0


async def test_a_commit_during_a_relay_pass_is_published_without_waiting_for_the_poll(
    js: JetStreamContext, database: Database, clock: FixedClock, tenant: str
) -> None:
    """A notify that arrives while the relay is busy must not be lost."""
    first, second = (
        make_message(subject(tenant, "first"), tenant),
        make_message(subject(tenant, "second"), tenant),
    )
    relay: OutboxRelay | None = None

    def notify() -> None:
        assert relay is not None
        relay.notify()

    factory = UnitOfWorkFactory(database.sessions, clock, on_outbox=notify)

    class RacingRelay(OutboxRelay):
        raced = False

        async def fetch(self) -> list[OutboxMessage]:
            rows = await super().fetch()
            if not self.raced:
                self.raced = True  # a service commits right after the relay read the outbox
                await database.run(commit_outbox, factory, second)
            return rows

    relay = RacingRelay(database, js, poll_interval=60)
    commit_outbox(factory, first)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:

        async def both_published() -> bool:
            counts = await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>")
            return counts == {first.subject: 1, second.subject: 1}

        await eventually(both_published, timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert outbox_size(database) == 0


async def test_an_unacked_publish_keeps_its_row_and_flush_does_not_spin(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    stranded = make_message(f"kerneltests.{tenant}.no_stream", tenant)  # no stream captures it
    delivered = make_message(subject(tenant), tenant)
    commit_outbox(uow, stranded, delivered)
    relay = OutboxRelay(database, js, ack_timeout=2)
    assert await relay.flush() == 1
    with database.transaction() as s:
        left = s.execute(select(outbox.c.event_id)).scalars().all()
    assert left == [stranded.event_id]
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {delivered.subject: 1}


async def test_unpublishable_rows_at_the_head_do_not_hold_back_the_rest(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    """A whole batch of rows JetStream refuses is parked; the rows after it still go out."""
    stranded = [make_message(f"kerneltests.{tenant}.no_stream", tenant) for _ in range(2)]
    delivered = make_message(subject(tenant), tenant)
    commit_outbox(uow, *stranded, delivered)
    relay = OutboxRelay(database, js, batch=2, ack_timeout=1, poll_interval=30)
    assert await relay.run_once() == 0  # the head batch: both refused, parked for 30 s
    assert await relay.run_once() == 1  # the next pass skips them and moves the good row
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {delivered.subject: 1}
    with database.transaction() as s:
        left = set(s.execute(select(outbox.c.event_id)).scalars())
    assert left == {m.event_id for m in stranded}  # kept, to be retried after the back-off


def dead_lettered(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("layercake_relay_dead_lettered_total", {"reason": reason}) or 0.0
    )


async def test_an_oversize_row_is_set_aside_and_the_rows_after_it_are_published(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    """One tenant's 9 MB event must not stop the outbox for every tenant (issue 10)."""
    other = random_id("t")
    huge = make_message(subject(tenant, "profile_updated"), tenant)
    huge = replace(huge, payload=b"x" * (9 * 1024 * 1024))
    after = [make_message(subject(other, "profile_updated"), other) for _ in range(2)]
    # recorded before the event size limit existed, or under a limit set above NATS's
    lax = StoreLimits(max_event_bytes=len(huge.payload))
    commit_outbox(UnitOfWorkFactory(database.sessions, uow.clock, limits=lax), huge, *after)
    before = dead_lettered("too_large")

    relay = OutboxRelay(database, js)
    assert relay.max_payload == 8 * 1024 * 1024  # read from the server's INFO
    assert await relay.flush() == 3
    assert outbox_size(database) == 0
    assert await subject_counts(js, "IDENTITY", f"layercake.{other}.>") == {after[0].subject: 2}
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {}
    assert dead_lettered("too_large") == before + 1

    notice = await last_message_headers(js, "DEADLETTER", f"layercake.{tenant}.dlq.relay")
    assert notice is not None
    assert notice["ce-id"] == huge.event_id
    assert notice["lc-reason"] == "too_large"
    assert notice["lc-original-subject"] == huge.subject
    assert notice["lc-payload-bytes"] == str(len(huge.payload))
    assert "max payload" in notice["lc-error"]
    stored = await js.get_last_msg("DEADLETTER", f"layercake.{tenant}.dlq.relay")
    assert stored.data in (b"", None)  # a notice, not the oversize body again


async def test_a_row_nats_refuses_at_publish_time_does_not_abort_the_batch(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    """An exception raised by publish_async itself is one row's outcome, not the batch's."""
    refused = make_message(f"layercake.{tenant}.identity.bad subject", tenant)  # a space
    delivered = make_message(subject(tenant), tenant)
    commit_outbox(uow, refused, delivered)
    before = dead_lettered("bad_subject")
    assert await OutboxRelay(database, js).run_once() == 2
    assert outbox_size(database) == 0
    assert await subject_counts(js, "IDENTITY", f"layercake.{tenant}.>") == {delivered.subject: 1}
    assert dead_lettered("bad_subject") == before + 1
    notice = await last_message_headers(js, "DEADLETTER", f"layercake.{tenant}.dlq.relay")
    assert notice is not None and notice["ce-id"] == refused.event_id


async def test_a_row_is_kept_when_its_dead_letter_notice_cannot_be_published(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    huge = replace(make_message(subject(tenant), tenant), payload=b"x" * 2048)
    commit_outbox(uow, huge)

    class NoDeadLetters(OutboxRelay):
        async def dead_letter(self, message: OutboxMessage, refusal: Unpublishable) -> None:
            raise ConnectionError("NATS went away")

    relay = NoDeadLetters(database, js, max_payload=1024, poll_interval=30)
    assert await relay.run_once() == 0
    assert outbox_size(database) == 1  # parked, to be set aside on a later pass
    assert await OutboxRelay(database, js, max_payload=1024).run_once() == 1
    assert outbox_size(database) == 0


async def test_on_relayed_hears_where_each_row_went_in_the_transaction_that_deletes_it(
    js: JetStreamContext, uow: UnitOfWorkFactory, database: Database, tenant: str
) -> None:
    first, second = make_message(subject(tenant), tenant), make_message(subject(tenant), tenant)
    commit_outbox(uow, first, second)
    heard: list[tuple[str, str, int]] = []

    def failing(session: Session, relayed: Sequence[Relayed], at: datetime) -> None:
        raise RuntimeError("the record cannot be written")

    with pytest.raises(RuntimeError):  # no record, no delete: the rows are published again
        await OutboxRelay(database, js, on_relayed=failing).run_once()
    assert outbox_size(database) == 2

    def record(session: Session, relayed: Sequence[Relayed], at: datetime) -> None:
        assert session.in_transaction()
        heard.extend((r.message.event_id, r.stream, r.sequence) for r in relayed)

    assert await OutboxRelay(database, js, on_relayed=record).run_once() == 2  # duplicates
    assert outbox_size(database) == 0
    stored = await js.get_last_msg("IDENTITY", subject(tenant))
    assert heard[1] == (second.event_id, "IDENTITY", stored.seq)
    assert heard[0] == (first.event_id, "IDENTITY", stored.seq - 1)  # the first publish's
