"""After a full batch the scheduler leases the next one before the batch's transaction
and prepares it meanwhile; what it leased ahead and did not fire is given back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from services.kernel.clock import FixedClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers import Outcome, Timer, TimerHandler, TimerScheduler
from tests.integration.kernel.timers_support import KIND, fired, handler, pending, schedule_all
from tests.polling import eventually

IDS = ["t1", "t2", "t3", "t4", "t5"]


async def _ready(_timer: Timer) -> None:
    """A prepare step: only timers with one are leased."""


def _schedule(uow: UnitOfWorkFactory, clock: FixedClock, tenant: str, ids: list[str]) -> None:
    """One a second, in order, all due by the time the clock is moved on."""
    for i, timer_id in enumerate(ids):
        schedule_all(uow, tenant, [timer_id], clock.now() + timedelta(seconds=i))
    clock.advance(timedelta(minutes=1))


def _scheduler(
    db: Database, uow: UnitOfWorkFactory, clock: FixedClock, h: TimerHandler[Any]
) -> TimerScheduler:
    return TimerScheduler(db, uow, {KIND: h}, clock, batch=2)


async def test_the_batch_after_a_full_one_is_leased_early_and_prepared_once(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    _schedule(uow, clock, tenant, IDS)
    prepared: list[str] = []

    async def prepare(timer: Timer) -> str:
        prepared.append(timer.timer_id)
        return timer.timer_id

    s = _scheduler(with_effects, uow, clock, handler(prepare=prepare))
    first = await s.run_once()

    assert [r.timer.timer_id for r in first] == ["t1", "t2"]
    rows = pending(with_effects)
    assert [rows[t]["claimed_by"] for t in ("t3", "t4", "t5")] == [s.owner, s.owner, None]
    second = await s.run_once()
    third = await s.run_once()
    assert [r.timer.timer_id for r in second + third] == ["t3", "t4", "t5"]
    assert all(r.outcome is Outcome.FIRED for r in first + second + third)
    assert await s.run_once() == []
    assert fired(with_effects) == IDS
    assert sorted(prepared) == IDS  # each once: a batch leased ahead is not claimed again


async def test_a_batch_leased_ahead_is_given_back_and_another_scheduler_fires_it(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    _schedule(uow, clock, tenant, IDS[:4])
    a = _scheduler(with_effects, uow, clock, handler("a", prepare=_ready))
    await a.run_once()

    await a.give_back()

    rows = pending(with_effects)
    assert [(rows[t]["claimed_by"], rows[t]["next_try_time"]) for t in ("t3", "t4")] == [
        (None, clock.now()),
        (None, clock.now()),
    ]
    b = _scheduler(with_effects, uow, clock, handler("b", prepare=_ready))
    assert [r.timer.timer_id for r in await b.run_once()] == ["t3", "t4"]
    assert fired(with_effects) == IDS[:4]


async def test_a_stopped_loop_gives_back_the_batch_it_was_preparing(
    with_effects: Database, uow: UnitOfWorkFactory, clock: FixedClock, tenant: str
) -> None:
    _schedule(uow, clock, tenant, IDS[:4])
    gate = asyncio.Event()

    async def prepare(timer: Timer) -> None:
        if timer.timer_id in {"t3", "t4"}:
            await gate.wait()  # the batch leased ahead is still preparing when the loop ends

    s = _scheduler(with_effects, uow, clock, handler(prepare=prepare))
    loop = asyncio.create_task(s.run(asyncio.Event()))

    async def first_batch_fired() -> bool:
        return fired(with_effects) == ["t1", "t2"]

    await eventually(first_batch_fired, timeout=5.0, interval=0.01)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)

    rows = pending(with_effects)
    assert fired(with_effects) == ["t1", "t2"]
    assert [rows[t]["claimed_by"] for t in ("t3", "t4")] == [None, None]
