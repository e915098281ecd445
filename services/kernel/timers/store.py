"""The SQL of timers: schedule, cancel, claim, retire, and what happens on failure.

Exactly once rests on one rule: a timer fires in the transaction that deletes its
row by the id it was claimed with. A concurrent firer (a replica that took over an
expired lease) finds the row gone and applies nothing; leases only save the work.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Result,
    Select,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import DriverInsert
from services.kernel.timers.schema import dead_timers, timers
from services.kernel.timers.timer import Timer

_FIELDS = (
    timers.c.id,
    timers.c.tenant_id,
    timers.c.timer_id,
    timers.c.kind,
    timers.c.due_time,
    timers.c.payload,
    timers.c.attempts,
)
_COLUMNS = tuple(c.name for c in timers.c)
_TIMES = frozenset({"due_time", "next_try_time", "scheduled_time"})

Retry = tuple[Timer, str, datetime, bool]
"""A failed timer, its error, when to try again, and whether the failure counts."""

_CANCEL = delete(timers).where(
    timers.c.tenant_id == bindparam("tenant_id"), timers.c.timer_id == bindparam("timer_id")
)
_RETIRE = (
    delete(timers).where(timers.c.id.in_(bindparam("ids", expanding=True))).returning(timers.c.id)
)
_FAIL = (
    update(timers)
    .where(timers.c.id == bindparam("b_id"))
    .values(
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        next_try_time=bindparam("b_retry"),
        claimed_by=None,
    )
)

_RELEASE = (
    update(timers)
    .where(timers.c.id == bindparam("b_id"), timers.c.claimed_by == bindparam("b_owner"))
    .values(next_try_time=bindparam("b_now"), claimed_by=None)
)


def new_timer_id() -> str:
    return uuid.uuid4().hex


@cache
def _writer(dialect: str) -> DriverInsert:
    return DriverInsert(timers, _COLUMNS, dialect, replace_on=("tenant_id", "timer_id"))


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Sets each timer of `rows` (one batched statement, straight through the driver: it
    runs for every batch of journey runs), replacing one of the same id."""
    if not rows:
        return
    connection = session.connection()
    writer = _writer(connection.dialect.name)
    at = writer.time
    writer.count(
        connection,
        [tuple(at(row[c]) if c in _TIMES else row[c] for c in _COLUMNS) for row in rows],
    )


def remove(session: Session, keys: Sequence[tuple[str, str]]) -> int:
    """Deletes the timers (tenant id, timer id) with one batched statement; how many were."""
    if not keys:
        return 0
    rows = [{"tenant_id": tenant, "timer_id": timer_id} for tenant, timer_id in keys]
    return int(session.connection().execute(_CANCEL, rows).rowcount)


def due_query(kinds: Sequence[str]) -> Select[tuple[str]]:
    """The ids of the timers a scheduler may claim (parameters `now`, `limit`): an index
    range scan on next_try_time, skipping rows another replica holds locked."""
    return (
        select(timers.c.id)
        .where(timers.c.next_try_time <= bindparam("now"), timers.c.kind.in_(kinds))
        .order_by(timers.c.next_try_time)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


def _due_ids(dialect: str, kinds: tuple[str, ...]) -> ColumnElement[bool]:
    """`id IN (due)`; on PostgreSQL `id = ANY(ARRAY(due))`, which the planner runs once
    and then seeks by primary key (an IN subquery may become a hash join over a scan)."""
    due = due_query(kinds).scalar_subquery()
    if dialect == "postgresql":
        return timers.c.id == any_(func.array(due))
    return timers.c.id.in_(due)


@cache
def _claim(dialect: str, kinds: tuple[str, ...]) -> Executable:
    return (
        update(timers)
        .where(_due_ids(dialect, kinds))
        .values(next_try_time=bindparam("lease_until"), claimed_by=bindparam("owner"))
        .returning(*_FIELDS)
    )


@cache
def _take(dialect: str, kinds: tuple[str, ...]) -> Executable:
    return delete(timers).where(_due_ids(dialect, kinds)).returning(*_FIELDS)


def claim(
    session: Session,
    kinds: Sequence[str],
    now: datetime,
    lease_until: datetime,
    owner: str,
    limit: int,
) -> list[Timer]:
    """Leases up to `limit` timers whose time has come, earliest first; rows another
    replica holds locked are skipped (PostgreSQL), so replicas never wait on each other."""
    params = {"now": now, "limit": limit, "lease_until": lease_until, "owner": owner}
    connection = session.connection()
    return _timers(connection.execute(_claim(connection.dialect.name, tuple(kinds)), params))


def take(session: Session, kinds: Sequence[str], now: datetime, limit: int) -> list[Timer]:
    """Deletes up to `limit` due timers, earliest first, and returns them: for handlers
    with no prepare step, whose effects then commit in this same transaction."""
    connection = session.connection()
    stmt = _take(connection.dialect.name, tuple(kinds))
    return _timers(connection.execute(stmt, {"now": now, "limit": limit}))


def _timers(rows: Result[Any]) -> list[Timer]:
    found = [Timer(*tuple(row)) for row in rows.all()]  # columns in Timer's field order (_FIELDS)
    found.sort(key=lambda t: t.due_time)
    return found


def retire(session: Session, ids: Sequence[str]) -> set[str]:
    """Deletes the claimed timers still as they were claimed; returns which were."""
    if not ids:
        return set()
    return set(session.connection().execute(_RETIRE, {"ids": list(ids)}).scalars())


def reschedule_failed(session: Session, failed: Sequence[Retry]) -> None:
    """Releases failed timers to be tried again at their retry time; `counted` failures
    add an attempt (a batch whose transaction failed, through no fault of its own, does not)."""
    if failed:
        session.connection().execute(
            _FAIL,
            [
                {
                    "b_id": t.id,
                    "b_attempts": t.attempts + 1 if counted else t.attempts,
                    "b_error": error[:1000],
                    "b_retry": retry_at,
                }
                for t, error, retry_at, counted in failed
            ],
        )


def park(session: Session, dead: Sequence[tuple[Timer, str]], now: datetime) -> None:
    """Moves timers that used up their attempts to `dead_timers`, with the last error;
    only those still as claimed (a replica racing on an expired lease parks nothing)."""
    taken = retire(session, [t.id for t, _ in dead])
    rows = [
        {
            "id": t.id,
            "tenant_id": t.tenant_id,
            "timer_id": t.timer_id,
            "kind": t.kind,
            "due_time": t.due_time,
            "payload": t.payload,
            "attempts": t.attempts + 1,
            "last_error": error[:1000],
            "dead_time": now,
        }
        for t, error in dead
        if t.id in taken
    ]
    if rows:
        session.execute(insert(dead_timers), rows)


def release(session: Session, claimed: Sequence[Timer], owner: str, now: datetime) -> None:
    """Frees `owner`'s leases of `claimed` (unfired) to be taken again from `now`; a timer
    replaced since, or taken over by another replica, is left alone."""
    if claimed:
        rows = [{"b_id": t.id, "b_owner": owner, "b_now": now} for t in claimed]
        session.connection().execute(_RELEASE, rows)


def release_claims(session: Session, now: datetime) -> int:
    """Frees every lease at once: only for SQLite, where one scheduler owns the database,
    so claims left by a killed process need not wait for their leases to end."""
    stmt = (
        update(timers)
        .where(timers.c.claimed_by.is_not(None))
        .values(next_try_time=now, claimed_by=None)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def next_try(session: Session, kinds: Sequence[str]) -> datetime | None:
    """When the earliest of these kinds may be claimed (an index seek)."""
    stmt = (
        select(timers.c.next_try_time)
        .where(timers.c.kind.in_(kinds))
        .order_by(timers.c.next_try_time)
        .limit(1)
    )
    value: datetime | None = session.execute(stmt).scalar()
    return value
