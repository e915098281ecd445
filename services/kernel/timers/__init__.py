"""Durable timers: `schedule`/`cancel` in any unit of work, fired exactly once.

    schedule(uow, "journey-42/wait-1", due, payload, tenant_id="acme", kind="journey.wait")
    cancel(uow, "journey-42/wait-1", tenant_id="acme")

A service hands the runtime a `TimerHandler` per kind; the runtime's
`TimerScheduler` fires each due timer into it in the transaction that deletes the
timer, so its effects happen once across restarts and replicas (PostgreSQL). On
SQLite run one scheduler per database (one service process).
"""

from services.kernel.timers.scheduler import FireResult, Outcome, TimerScheduler
from services.kernel.timers.scheduling import TimerWrites, cancel, schedule
from services.kernel.timers.timer import AnyTimerHandler, Timer, TimerHandler

__all__ = [
    "AnyTimerHandler",
    "FireResult",
    "Outcome",
    "Timer",
    "TimerHandler",
    "TimerScheduler",
    "TimerWrites",
    "cancel",
    "schedule",
]
