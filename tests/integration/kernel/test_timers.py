"""Durable timers on a real database (SQLite, and PostgreSQL when configured).

The clock is a FixedClock: a test moves time past a due time instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.kernel.clock import FixedClock
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor
from services.kernel.store.database import Database
from services.kernel.store.records import EventMetadata, NewEvent
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.timers import Outcome, Timer, TimerHandler, TimerScheduler, cancel, schedule
from services.kernel.timers import schema as timer_schema
from services.kernel.timers import store as timer_store
from tests.integration.harness import explain, schema_drift
from tests.integration.kernel.timers_support import (
    KIND,
    count,
    dead,
    fired,
    handler,
    pending,
    record,
    schedule_all,
)


def scheduler(
    db: Database, uow: UnitOfWorkFactory, clock: FixedClock, h: TimerHandler[Any], **kw: Any
) -> TimerScheduler:
    return TimerScheduler(db, uow, {KIND: h}, clock, **kw)


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": KIND}) or 0.0


async def test_a_timer_fires_once_when_due_and_its_lag_is_measured(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    due = clock.now() + timedelta(minutes=5)
    schedule_all(uow, tenant, ["t1"], due)
    s = scheduler(with_effects, uow, clock, handler())

    assert await s.run_once() == []
    clock.advance(timedelta(minutes=5, seconds=2))
    lag_sum = metric("layercake_timer_fire_lag_seconds_sum")
    fires = metric("layercake_timers_fired_total")
    [result] = await s.run_once()

    assert result.outcome is Outcome.FIRED
    assert result.timer.payload == b"t1" and result.timer.due_time == due
    assert result.lag == 2.0
    assert metric("layercake_timer_fire_lag_seconds_sum") - lag_sum == 2.0
    assert metric("layercake_timers_fired_total") - fires == 1
    assert fired(with_effects) == ["t1"]
    assert pending(with_effects) == {}
    assert await s.run_once() == []


async def test_rescheduling_replaces_and_cancel_clears(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    now = clock.now()
    with uow() as work:
        schedule(work, "moved", now, b"old", tenant_id=tenant, kind=KIND)
        schedule(work, "moved", now + timedelta(hours=1), b"new", tenant_id=tenant, kind=KIND)
        schedule(work, "dropped", now, b"x", tenant_id=tenant, kind=KIND)
        work.commit()
    with uow() as work:
        assert cancel(work, "dropped", tenant_id=tenant)
        assert not cancel(work, "dropped", tenant_id=tenant)
        assert not cancel(work, "moved", tenant_id="someone-else")
        work.commit()
    s = scheduler(with_effects, uow, clock, handler())

    assert await s.run_once() == []
    clock.advance(timedelta(hours=1))
    [result] = await s.run_once()
    assert result.timer.payload == b"new"
    assert fired(with_effects) == ["moved"]


async def test_a_timer_replaced_while_its_handler_prepares_fires_only_in_its_new_form(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    """`prepare` runs with no transaction and no row lock held: it can even reschedule."""
    schedule_all(uow, tenant, ["raced"], clock.now())
    later = clock.now() + timedelta(minutes=1)

    async def reschedule(timer: Timer) -> str:
        def write() -> None:
            with uow() as work:
                schedule(work, timer.timer_id, later, b"second", tenant_id=tenant, kind=KIND)
                work.commit()

        await with_effects.run(write)  # would block on a lock held across this step
        return "prepared"

    s = scheduler(with_effects, uow, clock, handler(prepare=reschedule))
    [result] = await s.run_once()
    assert result.outcome is Outcome.GONE
    assert fired(with_effects) == []

    clock.advance(timedelta(minutes=1))
    s = scheduler(with_effects, uow, clock, handler())
    [result] = await s.run_once()
    assert (result.outcome, result.timer.payload) == (Outcome.FIRED, b"second")
    assert fired(with_effects) == ["raced"]


async def test_a_failing_handler_is_retried_with_back_off_then_parked_without_blocking_others(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    ids = [f"t{i}" for i in range(5)]
    schedule_all(uow, tenant, ids, clock.now())
    h = handler(fail=lambda t: t.timer_id == "t2")
    s = scheduler(with_effects, uow, clock, h, max_attempts=3, retry_base=10, retry_cap=15)
    dead_before = metric("layercake_timers_dead_total")

    results = await s.run_once()
    assert sorted(fired(with_effects)) == ["t0", "t1", "t3", "t4"]
    assert {r.timer.timer_id: r.outcome for r in results}["t2"] is Outcome.FAILED
    row = pending(with_effects)["t2"]
    assert row["attempts"] == 1 and "handler refused t2" in row["last_error"]
    assert row["next_try_time"] == clock.now() + timedelta(seconds=10)
    assert row["claimed_by"] is None

    clock.advance(timedelta(seconds=9))
    assert await s.run_once() == []  # still backing off
    clock.advance(timedelta(seconds=1))
    [second] = await s.run_once()
    assert second.outcome is Outcome.FAILED
    assert pending(with_effects)["t2"]["next_try_time"] == clock.now() + timedelta(seconds=15)

    clock.advance(timedelta(seconds=15))
    [third] = await s.run_once()
    assert third.outcome is Outcome.DEAD
    assert pending(with_effects) == {}
    parked = dead(with_effects)["t2"]
    assert parked["attempts"] == 3 and "handler refused t2" in parked["last_error"]
    assert parked["payload"] == b"t2" and parked["tenant_id"] == tenant
    assert metric("layercake_timers_dead_total") - dead_before == 1
    assert sorted(fired(with_effects)) == ["t0", "t1", "t3", "t4"]


async def test_a_warm_step_sees_the_batchs_timers_before_any_is_applied(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    schedule_all(uow, tenant, ["t0", "t1", "t2"], clock.now())
    seen: list[str] = []
    apply = record()

    def warm(work: UnitOfWork, timers: Sequence[Timer]) -> None:
        seen.append("warm:" + ",".join(sorted(t.timer_id for t in timers)))

    def applied(work: UnitOfWork, timer: Timer, prepared: object) -> None:
        seen.append(timer.timer_id)
        apply(work, timer, prepared)

    async def prepare(timer: Timer) -> None:
        return None

    for h in (TimerHandler(applied, warm=warm), TimerHandler(applied, prepare, warm=warm)):
        seen.clear()
        await scheduler(with_effects, uow, clock, h).run_once()
        assert seen[0] == "warm:t0,t1,t2" and sorted(seen[1:]) == ["t0", "t1", "t2"]
        schedule_all(uow, tenant, ["t0", "t1", "t2"], clock.now())


async def test_a_failing_handler_leaves_nothing_of_what_it_wrote_behind(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    """Redone one by one, each timer's buffered appends go with its failure."""
    schedule_all(uow, tenant, ["t0", "t1"], clock.now())
    stream = f"s-{tenant}"

    def apply(work: UnitOfWork, timer: Timer, _prepared: object) -> None:
        metadata = EventMetadata(tenant_id=tenant, actor=Actor.parse("system:test"))
        at = len(work.load(stream))
        work.append(stream, at, [NewEvent(timer.timer_id, b"")], metadata)
        if timer.timer_id == "t1":
            raise RuntimeError("handler refused t1")

    async def prepare(timer: Timer) -> None:
        return None

    results = await scheduler(with_effects, uow, clock, TimerHandler(apply, prepare)).run_once()
    assert {r.timer.timer_id: r.outcome for r in results} == {
        "t0": Outcome.FIRED,
        "t1": Outcome.FAILED,
    }
    with uow() as work:
        assert [e.type for e in work.load(stream)] == ["t0"]


async def test_a_failing_prepare_step_counts_as_an_attempt_and_fires_later(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    schedule_all(uow, tenant, ["ok", "flaky"], clock.now())
    calls: list[str] = []

    async def prepare(timer: Timer) -> str:
        calls.append(timer.timer_id)
        if timer.timer_id == "flaky" and calls.count("flaky") == 1:
            raise ConnectionError("peer hung up")
        return timer.timer_id.upper()

    seen: list[object] = []

    def apply(uow: Any, timer: Timer, prepared: object) -> None:
        seen.append(prepared)
        record()(uow, timer, prepared)

    s = scheduler(with_effects, uow, clock, TimerHandler(apply, prepare), retry_base=1)
    results = {r.timer.timer_id: r for r in await s.run_once()}
    assert results["ok"].outcome is Outcome.FIRED
    assert results["flaky"].outcome is Outcome.FAILED
    assert "ConnectionError: peer hung up" in results["flaky"].error
    assert pending(with_effects)["flaky"]["attempts"] == 1

    clock.advance(timedelta(seconds=1))
    [again] = await s.run_once()
    assert again.outcome is Outcome.FIRED and again.timer.attempts == 1
    assert seen == ["OK", "FLAKY"]
    assert sorted(fired(with_effects)) == ["flaky", "ok"]


async def test_transient_errors_are_retried_but_never_park_a_timer(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    schedule_all(uow, tenant, ["busy"], clock.now())

    def conflict(_uow: Any, _timer: Timer, _prepared: object) -> None:
        raise ConcurrencyError("stream moved on")

    s = scheduler(with_effects, uow, clock, TimerHandler(conflict), max_attempts=2, retry_cap=1)
    for _ in range(4):
        [result] = await s.run_once()
        assert result.outcome is Outcome.FAILED
        clock.advance(timedelta(seconds=1))
    assert pending(with_effects)["busy"]["attempts"] == 4
    assert dead(with_effects) == {}


async def test_a_scheduler_claims_only_the_kinds_it_handles(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    schedule_all(uow, tenant, ["mine"], clock.now())
    schedule_all(uow, tenant, ["theirs"], clock.now(), kind="other.kind")
    s = scheduler(with_effects, uow, clock, handler())
    assert [r.timer.timer_id for r in await s.run_once()] == ["mine"]
    assert await s.run_once() == []
    assert list(pending(with_effects)) == ["theirs"]


async def test_claims_come_in_batches_earliest_first(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    start = clock.now()
    with uow() as work:
        for i in reversed(range(7)):
            due = start + timedelta(seconds=i)
            schedule(work, f"t{i}", due, b"", tenant_id=tenant, kind=KIND)
        work.commit()
    clock.advance(timedelta(seconds=10))
    s = scheduler(with_effects, uow, clock, handler(), batch=3)
    assert [r.timer.timer_id for r in await s.run_once()] == ["t0", "t1", "t2"]
    assert [r.timer.timer_id for r in await s.run_once()] == ["t3", "t4", "t5"]
    assert [r.timer.timer_id for r in await s.run_once()] == ["t6"]
    assert fired(with_effects) == [f"t{i}" for i in range(7)]


async def test_a_crashed_schedulers_claims_are_taken_over(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    """PostgreSQL: after the lease runs out. SQLite: at once, when the one scheduler starts."""
    schedule_all(uow, tenant, ["a", "b"], clock.now())
    now = clock.now()
    lease_end = now + timedelta(seconds=30)
    claimed = with_effects.run_sync(
        lambda s: timer_store.claim(s, [KIND], now, lease_end, "crashed", 10)
    )
    assert len(claimed) == 2  # ...and then that process was killed

    survivor = scheduler(with_effects, uow, clock, handler(), lease=30)
    await survivor.start()
    if not with_effects.is_sqlite:  # other replicas may be alive: their leases are honoured
        assert await survivor.run_once() == []
        clock.advance(timedelta(seconds=30))
    assert sorted(r.timer.timer_id for r in await survivor.run_once()) == ["a", "b"]
    assert sorted(fired(with_effects)) == ["a", "b"]


@pytest.mark.parametrize("leased", [False, True], ids=["taken", "leased"])
async def test_two_schedulers_racing_fire_each_timer_once(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str, leased: bool
) -> None:
    """Handlers without a prepare step are taken and fired in one transaction; with one,
    they are leased first (here for no time at all, so each may take over the other's)."""
    ids = [f"t{i:03}" for i in range(300)]
    schedule_all(uow, tenant, ids, clock.now())

    async def noop(_timer: Timer) -> None:
        return None

    step = noop if leased else None
    a = scheduler(with_effects, uow, clock, handler("a", prepare=step), batch=40, lease=0)
    b = scheduler(with_effects, uow, clock, handler("b", prepare=step), batch=40, lease=0)
    for _ in range(20):
        await asyncio.gather(a.run_once(), b.run_once())
        if not count(with_effects):
            break
    assert sorted(fired(with_effects)) == ids


@pytest.mark.parametrize("path", ["take", "claim"])
def test_the_due_claim_is_an_index_range_scan(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str, path: str
) -> None:
    with uow() as work:
        for i in range(2000):
            due = clock.now() + timedelta(seconds=i)
            schedule(work, f"t{i}", due, b"", tenant_id=tenant, kind=KIND)
        work.commit()
    clock.advance(timedelta(seconds=100))
    now, later = clock.now(), clock.now() + timedelta(seconds=30)
    statements = {
        "take": lambda s: timer_store.take(s, [KIND], now, 256),
        "claim": lambda s: timer_store.claim(s, [KIND], now, later, "me", 256),
    }
    plan = explain(with_effects, statements[path], analyze="timers")
    if with_effects.is_sqlite:
        assert "SEARCH timers USING INDEX ix_timers_next_try_time (next_try_time<?)" in plan, plan
        assert "SCAN" not in plan, plan
    else:
        assert "Index Scan using ix_timers_next_try_time" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_the_frozen_migration_creates_exactly_the_timer_tables(database: Database) -> None:
    assert schema_drift(database, timer_schema.metadata) == []
