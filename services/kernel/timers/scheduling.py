"""`schedule` and `cancel`: timers are set and cleared inside the caller's unit of work,
so they commit, or vanish, together with the state change that wanted them.
`TimerWrites` does the same written behind, for a unit of work that sets many.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.tenants import is_tenant_id
from services.kernel.timers import store
from services.kernel.timers.timer import MAX_KIND, MAX_PAYLOAD, MAX_TIMER_ID


def schedule(
    uow: UnitOfWork,
    timer_id: str,
    due_time: datetime,
    payload: bytes,
    *,
    tenant_id: str,
    kind: str,
) -> None:
    """Sets timer `timer_id` of `tenant_id` to fire `kind`'s handler at `due_time` (at once
    when past). Scheduling an id again replaces it: only the newest one ever fires."""
    _check_schedule(tenant_id, timer_id, kind, due_time, payload)
    store.upsert(uow.session, [timer_row(tenant_id, timer_id, kind, due_time, payload, uow.now())])


def timer_row(
    tenant_id: str, timer_id: str, kind: str, due_time: datetime, payload: bytes, now: datetime
) -> dict[str, object]:
    """A new timer's row: due at `due_time`, unclaimed, never tried, with a fresh id."""
    return {
        "id": store.new_timer_id(),
        "tenant_id": tenant_id,
        "timer_id": timer_id,
        "kind": kind,
        "due_time": due_time,
        "payload": payload,
        "next_try_time": due_time,
        "attempts": 0,
        "last_error": None,
        "claimed_by": None,
        "scheduled_time": now,
    }


def cancel(uow: UnitOfWork, timer_id: str, *, tenant_id: str) -> bool:
    """Clears the timer; False when there was none (fired, cancelled or never set)."""
    _check(tenant_id, timer_id)
    return store.remove(uow.session, [(tenant_id, timer_id)]) > 0


class TimerWrites:
    """Timers set and cleared in one unit of work, written behind: the last word on each
    (tenant, timer id) is kept, and `flush` sends them as one batched DELETE and one
    batched upsert. The owner flushes before its session reads and at commit (as the
    unit of work does its appends), and discards what a failed savepoint buffered."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], dict[str, object] | None] = {}

    def schedule(
        self,
        timer_id: str,
        due_time: datetime,
        payload: bytes,
        now: datetime,
        *,
        tenant_id: str,
        kind: str,
    ) -> None:
        """`schedule`, at the next flush."""
        _check_schedule(tenant_id, timer_id, kind, due_time, payload)
        row = timer_row(tenant_id, timer_id, kind, due_time, payload, now)
        self._pending[(tenant_id, timer_id)] = row

    def cancel(self, timer_id: str, *, tenant_id: str) -> None:
        """`cancel`, at the next flush."""
        _check(tenant_id, timer_id)
        self._pending[(tenant_id, timer_id)] = None

    def flush(self, session: Session) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        store.remove(session, sorted(key for key, row in pending.items() if row is None))
        store.upsert(session, [row for _, row in sorted(pending.items()) if row is not None])

    def discard(self) -> None:
        self._pending.clear()


def _check_schedule(
    tenant_id: str, timer_id: str, kind: str, due_time: datetime, payload: bytes
) -> None:
    _check(tenant_id, timer_id)
    if not kind or len(kind) > MAX_KIND:
        raise ValueError(f"timer kind must be 1-{MAX_KIND} characters: {kind[:MAX_KIND]!r}")
    if due_time.tzinfo is None:
        raise ValueError("timer due_time must be timezone-aware")
    if not isinstance(payload, bytes) or len(payload) > MAX_PAYLOAD:
        raise ValueError(f"timer payload must be bytes of at most {MAX_PAYLOAD}")


def _check(tenant_id: str, timer_id: str) -> None:
    if not is_tenant_id(tenant_id):
        raise ValueError(f"not a tenant id: {tenant_id[:64]!r}")
    if not timer_id or len(timer_id) > MAX_TIMER_ID:
        raise ValueError(f"timer id must be 1-{MAX_TIMER_ID} characters: {timer_id[:64]!r}")
