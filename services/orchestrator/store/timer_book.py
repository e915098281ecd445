"""The journey timers on the kernel's durable timers, in the caller's transaction, written
behind: a batch of fired timers sets and clears its runs' timers with two statements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.kernel.clock import Clock
from services.kernel.timers import TimerWrites
from services.orchestrator.repositories import TIMER_KIND, TimerBook


class SqlTimerBook(TimerBook):
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session, self.clock = session, clock
        self.writes = TimerWrites()

    def schedule(self, tenant_id: str, timer_id: str, due: datetime, payload: bytes) -> None:
        now = self.clock.now()
        self.writes.schedule(timer_id, due, payload, now, tenant_id=tenant_id, kind=TIMER_KIND)

    def cancel(self, tenant_id: str, timer_id: str) -> None:
        self.writes.cancel(timer_id, tenant_id=tenant_id)

    def flush(self) -> None:
        self.writes.flush(self.session)

    def discard(self) -> None:
        self.writes.discard()
