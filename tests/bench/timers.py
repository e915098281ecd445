"""Figure 4: durable timers, fired by one scheduler.

Two measurements per database. *Drain*: a backlog of due timers fired by
`TimerScheduler.run_once` (a no-op handler, so the cost is the kernel's), beside
raw `sqlite3`/`psycopg` transactions that select the due rows of an identically
shaped table and delete them, in batches of the same size. *Lag*: N timers due
within a window (100,000 within a minute by default) fired by the scheduler's own
loop as time passes; each fire's lag is commit time minus due time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.timers import Outcome, Timer, TimerHandler, TimerScheduler
from services.kernel.timers.scheduling import timer_row
from services.kernel.timers.schema import timers
from tests.bench.measures import Measure, Tick, _chunked

KIND = "bench.timer"
TENANT = "benchtimers"
PAYLOAD = bytes(64)  # a timer points at state (an instance id, a step), it does not carry it
ROUND_DEADLINE = 300.0


def _noop(_uow: UnitOfWork, _timer: Timer, _prepared: object) -> None:
    """The handler does nothing, so the figure is the kernel's own cost per timer."""


def preload(db: Database, dues: list[datetime]) -> None:
    """Inserts timers due at `dues` (untimed), as `schedule` writes them."""
    now = datetime.now(UTC)
    rows = [timer_row(TENANT, uuid.uuid4().hex, KIND, due, PAYLOAD, now) for due in dues]

    def write(session: Session) -> None:
        for i in range(0, len(rows), 2000):
            session.execute(insert(timers), rows[i : i + 2000])

    db.run_sync(write)


class ShiftedClock:
    """The system clock moved back by `offset`: the bench lays out due times before the
    (slow) preload, then starts the clock where they begin, whatever the preload took."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset


def _scheduler(db: Database, clock: Any, batch: int) -> TimerScheduler:
    uow = UnitOfWorkFactory(db.sessions, clock)
    return TimerScheduler(db, uow, {KIND: TimerHandler(_noop)}, clock, batch=batch)


class KernelTimerDrain:
    """`TimerScheduler.run_once` until a backlog of due timers is fired."""

    def __init__(self, db: Database, batch: int, tick: Tick) -> None:
        self.db, self.tick = db, tick
        self.scheduler = _scheduler(db, SystemClock(), batch)

    async def round(self, n: int) -> Measure:
        due = datetime.now(UTC) - timedelta(seconds=1)
        await self.db.run(preload, self.db, [due] * n)
        done = _chunked(self.tick, n)
        fired = 0
        start = time.perf_counter()
        while fired < n:
            results = await self.scheduler.run_once()
            ok = sum(r.outcome is Outcome.FIRED for r in results)
            if ok != len(results) or not results:
                raise RuntimeError(f"timer drain stalled at {fired} of {n}: {results[:1]}")
            fired += ok
            done(ok)
        return Measure(fired, time.perf_counter() - start)


_RAW_COLUMNS = (
    "id {text} PRIMARY KEY, tenant_id {text} NOT NULL, timer_id {text} NOT NULL, "
    "kind {text} NOT NULL, due_time {time} NOT NULL, payload {blob} NOT NULL, "
    "next_try_time {time} NOT NULL, attempts INTEGER NOT NULL, last_error {text}, "
    "claimed_by {text}, scheduled_time {time} NOT NULL, UNIQUE (tenant_id, timer_id)"
)


class _RawDrain:
    """Select-due + delete transactions of `batch` rows on a table shaped like `timers`."""

    conn: Any
    batch: int
    tick: Tick

    def _fill(self, n: int) -> None:
        raise NotImplementedError

    def _one(self) -> int:
        raise NotImplementedError

    def _run(self, n: int) -> Measure:
        self._fill(n)
        done = _chunked(self.tick, n)
        deleted = 0
        start = time.perf_counter()
        while deleted < n:
            k = self._one()
            if not k:
                raise RuntimeError(f"raw drain found {deleted} of {n} rows")
            deleted += k
            done(k)
        return Measure(deleted, time.perf_counter() - start)

    async def round(self, n: int) -> Measure:
        return await asyncio.to_thread(self._run, n)

    def rows(self, n: int, due: Any) -> list[tuple[Any, ...]]:
        return [
            (uuid.uuid4().hex, TENANT, uuid.uuid4().hex, KIND, due, PAYLOAD, due, 0, due)
            for _ in range(n)
        ]

    def close(self) -> None:
        self.conn.close()


_RAW_INSERT = (
    "INSERT INTO raw_timers (id, tenant_id, timer_id, kind, due_time, payload, "
    "next_try_time, attempts, scheduled_time) VALUES ({})"
)


class RawSqliteTimers(_RawDrain):
    """Plain sqlite3 with the kernel's pragmas: BEGIN IMMEDIATE, select, delete, COMMIT."""

    def __init__(self, path: Path, batch: int, tick: Tick) -> None:
        self.batch, self.tick = batch, tick
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        columns = _RAW_COLUMNS.format(text="VARCHAR", time="DATETIME", blob="BLOB")
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS raw_timers ({columns})")
        self.conn.execute("CREATE INDEX IF NOT EXISTS ix_raw_next ON raw_timers (next_try_time)")

    def _fill(self, n: int) -> None:
        due = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(_RAW_INSERT.format(", ".join("?" * 9)), self.rows(n, due))
        self.conn.execute("COMMIT")

    def _one(self) -> int:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.conn.execute("BEGIN IMMEDIATE")
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM raw_timers WHERE next_try_time <= ? ORDER BY next_try_time LIMIT ?",
                (now, self.batch),
            )
        ]
        if ids:
            marks = ", ".join("?" * len(ids))
            self.conn.execute(f"DELETE FROM raw_timers WHERE id IN ({marks})", ids)
        self.conn.execute("COMMIT")
        return len(ids)


class RawPostgresTimers(_RawDrain):
    """Plain psycopg: select due FOR UPDATE SKIP LOCKED, delete them, COMMIT."""

    def __init__(self, conninfo: str, batch: int, tick: Tick) -> None:
        self.batch, self.tick = batch, tick
        self.conn = psycopg.connect(conninfo)
        columns = _RAW_COLUMNS.format(text="VARCHAR", time="TIMESTAMPTZ", blob="BYTEA")
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS raw_timers ({columns})")
        self.conn.execute("CREATE INDEX IF NOT EXISTS ix_raw_next ON raw_timers (next_try_time)")
        self.conn.commit()

    def _fill(self, n: int) -> None:
        due = datetime.now(UTC) - timedelta(seconds=1)
        with self.conn.cursor() as cur:
            cur.executemany(_RAW_INSERT.format(", ".join(["%s"] * 9)), self.rows(n, due))
        self.conn.commit()

    def _one(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM raw_timers WHERE next_try_time <= %s "
                "ORDER BY next_try_time LIMIT %s FOR UPDATE SKIP LOCKED",
                (datetime.now(UTC), self.batch),
            )
            ids = [r[0] for r in cur.fetchall()]
            if ids:
                cur.execute("DELETE FROM raw_timers WHERE id = ANY(%s)", (ids,))
        self.conn.commit()
        return len(ids)


@dataclass(frozen=True)
class LagReport:
    """N timers due within a window, fired by the scheduler's own loop."""

    timers: int
    window: float
    seconds: float  # from the first due time to the last commit
    p50: float
    p99: float
    worst: float

    def describe(self) -> str:
        return (
            f"{self.timers:,} timers due within {self.window:g}s, one scheduler: "
            f"{self.timers / self.seconds:,.0f} fires/s, lag p50 {self.p50 * 1000:.0f} ms, "
            f"p99 {self.p99 * 1000:.0f} ms, max {self.worst * 1000:.0f} ms (goal: p99 < 1 s)"
        )


async def measure_lag(db: Database, count: int, window: float, batch: int, tick: Tick) -> LagReport:
    """Lays out `count` due times evenly over `window` seconds, preloads them, then runs the
    scheduler loop (run_once, idle) with the clock starting just before the first one."""
    clock = ShiftedClock()
    origin = clock.now()
    first = origin + timedelta(seconds=0.5)
    step = window / count
    await db.run(preload, db, [first + timedelta(seconds=i * step) for i in range(count)])
    clock.offset = datetime.now(UTC) - origin
    return await fire_over(_scheduler(db, clock, batch), clock, first, count, window, tick)


async def fire_over(
    scheduler: TimerScheduler,
    clock: ShiftedClock,
    first: datetime,
    count: int,
    window: float,
    tick: Tick,
) -> LagReport:
    """Runs the scheduler's loop (run_once, idle) until `count` timers, due from `first`
    over `window` seconds, have fired; their lag percentiles."""
    stop = asyncio.Event()
    lags: list[float] = []
    started = time.perf_counter()
    while len(lags) < count:
        if time.perf_counter() - started > window + ROUND_DEADLINE:
            raise TimeoutError(f"fired {len(lags)} of {count} timers")
        results = await scheduler.run_once()
        lags += [r.lag for r in results if r.outcome is Outcome.FIRED]
        tick(len(results))
        if len(results) < scheduler.batch:
            await scheduler.idle(stop)
    seconds = (clock.now() - first).total_seconds()
    cuts = statistics.quantiles(lags, n=100, method="inclusive")
    return LagReport(count, window, seconds, cuts[49], cuts[98], max(lags))
