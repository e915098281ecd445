"""The journey timers on the kernel's durable timers, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import cancel, schedule
from services.orchestrator.repositories import TIMER_KIND, TimerBook


class SqlTimerBook(TimerBook):
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def schedule(self, tenant_id: str, timer_id: str, due: datetime, payload: bytes) -> None:
        schedule(self.uow, timer_id, due, payload, tenant_id=tenant_id, kind=TIMER_KIND)

    def cancel(self, tenant_id: str, timer_id: str) -> bool:
        return cancel(self.uow, timer_id, tenant_id=tenant_id)
