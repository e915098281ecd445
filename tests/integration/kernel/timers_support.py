"""What the timer tests share: a handler whose effect is a row, and table counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.timers import Timer, TimerHandler, schedule
from services.kernel.timers.schema import dead_timers, timers
from tests.integration.kernel.support import effects

KIND = "test.remind"


def record(worker: str = "w", fail: Callable[[Timer], bool] = lambda _t: False) -> Any:
    """`apply` writes one effect row per fire, in the scheduler's transaction; `fail`
    picks the timers whose handler raises instead."""

    def apply(uow: UnitOfWork, timer: Timer, _prepared: object) -> None:
        if fail(timer):
            raise RuntimeError(f"handler refused {timer.timer_id}")
        uow.session.execute(insert(effects).values(event_id=timer.timer_id, worker=worker))

    return apply


def handler(
    worker: str = "w",
    fail: Callable[[Timer], bool] = lambda _t: False,
    prepare: Callable[[Timer], Awaitable[Any]] | None = None,
) -> TimerHandler[Any]:
    return TimerHandler(record(worker, fail), prepare)


def schedule_all(
    uow: UnitOfWorkFactory, tenant: str, ids: list[str], due: datetime, kind: str = KIND
) -> None:
    with uow() as work:
        for timer_id in ids:
            schedule(work, timer_id, due, timer_id.encode(), tenant_id=tenant, kind=kind)
        work.commit()


def fired(db: Database) -> list[str]:
    """Timer ids in the order their effects were written (duplicates kept); read without
    queueing behind the scheduler's writes, as SQLite's BEGIN IMMEDIATE would."""
    with db.read_sessions() as s, s.begin():
        return list(s.execute(select(effects.c.event_id).order_by(effects.c.id)).scalars())


def pending(db: Database) -> dict[str, dict[str, Any]]:
    with db.read_sessions() as s, s.begin():
        return {r.timer_id: r._asdict() for r in s.execute(select(timers))}


def dead(db: Database) -> dict[str, dict[str, Any]]:
    with db.read_sessions() as s, s.begin():
        return {r.timer_id: r._asdict() for r in s.execute(select(dead_timers))}


def count(db: Database, table: Any = timers) -> int:
    with db.read_sessions() as s, s.begin():
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())
