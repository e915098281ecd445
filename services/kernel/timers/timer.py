"""What a timer is to its handler, and the two-step handler shape.

A handler mirrors a consumer's: an optional async `prepare` that may do I/O before
any transaction opens (it may run more than once for one timer), then `apply`,
whose effects commit in the same transaction that retires the timer. An optional
`warm` sees a batch's timers first, in that transaction, to read in bulk what the
`apply` calls will read one by one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from services.kernel.store.unit_of_work import UnitOfWork

P = TypeVar("P")

MAX_TIMER_ID = 200
MAX_KIND = 100
MAX_PAYLOAD = 64 * 1024  # a timer points at state; it does not carry it


@dataclass(frozen=True)
class Timer:
    """A due timer as its handler sees it; `attempts` counts the earlier failed fires."""

    id: str  # this scheduling of the timer (a reschedule gets a new one)
    tenant_id: str
    timer_id: str
    kind: str
    due_time: datetime
    payload: bytes
    attempts: int = 0


@dataclass(frozen=True)
class TimerHandler(Generic[P]):
    """Fires timers of one kind: `prepare(timer)` outside the transaction (optional; its
    result, or None, is handed on), then `apply(uow, timer, prepared)` inside it.

    `warm(uow, timers)`, when given, runs in a batch's transaction before its `apply`
    calls with the timers they will fire: it may read in bulk what they will read one by
    one (a cache of the unit of work); nothing may depend on it having run."""

    apply: Callable[[UnitOfWork, Timer, P], None]
    prepare: Callable[[Timer], Awaitable[P]] | None = None
    warm: Callable[[UnitOfWork, Sequence[Timer]], None] | None = None


AnyTimerHandler = TimerHandler[Any]
