"""The scheduler: claims due timers in batches and fires each exactly once.

Timers whose handler has no `prepare` step are taken (deleted) and applied in one
transaction a batch. The others are leased first (a short transaction), prepared with
no transaction open, then retired and applied in one transaction (a handler's `warm`
step sees the batch's timers of its kind before any is applied). After a full batch
more are likely due: the next one is leased before the batch's transaction opens (so
on SQLite it does not queue behind it) and prepared on the event loop while the batch
is applied in a thread; the next round takes it, and `run` gives it back when it stops.
A batch that fails is redone timer by timer, each in a savepoint, so a failing handler
costs only its own timer: retried with back-off, parked in `dead_timers` after
`max_attempts`.

Several schedulers may share a PostgreSQL database (claims skip locked rows; an
expired lease is taken over). On SQLite run one scheduler per database: it frees
every lease when it starts, so a killed process's claims fire again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from prometheus_client import Counter, Histogram

from services.kernel.clock import Clock
from services.kernel.errors import DeadlineExceeded, Unavailable, Unprocessable
from services.kernel.store.database import Database
from services.kernel.store.transient import is_transient
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers import store
from services.kernel.timers.timer import AnyTimerHandler, Timer

log = logging.getLogger(__name__)

FIRED = Counter("layercake_timers_fired_total", "Timers fired", ["kind"])
FAILED = Counter("layercake_timer_failures_total", "Timer handler failures", ["kind"])
DEAD = Counter("layercake_timers_dead_total", "Timers parked after their last attempt", ["kind"])
LAG = Histogram(
    "layercake_timer_fire_lag_seconds",
    "Fire time (commit) minus due time",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

# The scheduler's defaults, also the defaults of LAYERCAKE_TIMER_BATCH, _LEASE, _POLL_INTERVAL.
DEFAULT_BATCH = 256  # due timers claimed and fired per transaction
DEFAULT_LEASE = 30.0  # seconds a claim holds before another replica may take the timer
DEFAULT_POLL_INTERVAL = 0.5  # the longest sleep between polls for newly scheduled timers

# A peer that did not answer in time: worth retrying however often it happens.
UNAVAILABLE: tuple[type[BaseException], ...] = (Unavailable, DeadlineExceeded, TimeoutError)


class Outcome(Enum):
    FIRED = "fired"
    GONE = "gone"  # rescheduled, cancelled or fired by another scheduler since the claim
    FAILED = "failed"  # retried after a back-off
    DEAD = "dead"  # out of attempts (or unprocessable): moved to dead_timers


@dataclass(frozen=True)
class FireResult:
    timer: Timer
    outcome: Outcome
    lag: float = 0.0  # seconds from due to commit, for a fired timer
    error: str = ""


@dataclass(frozen=True)
class _Failure:
    timer: Timer
    error: BaseException


@dataclass(frozen=True)
class _Batch:
    """Leased timers, prepared: what each prepare step found, and which of them failed."""

    claimed: list[Timer]
    prepared: dict[str, Any]
    failures: dict[str, _Failure]


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Doubling back-off after the `attempts`-th failure, capped."""
    return float(min(base * 2 ** max(attempts - 1, 0), cap))


def is_fatal(error: BaseException, attempts: int, max_attempts: int) -> bool:
    """Parked: unprocessable at once, others once out of attempts, transient ones never."""
    if isinstance(error, Unprocessable):
        return True
    if is_transient(error) or isinstance(error, UNAVAILABLE):
        return False
    return attempts >= max_attempts


class TimerScheduler:
    """Fires the due timers of the kinds it has handlers for, in this process."""

    def __init__(
        self,
        db: Database,
        uow: UnitOfWorkFactory[Any],
        handlers: Mapping[str, AnyTimerHandler],
        clock: Clock,
        *,
        batch: int = DEFAULT_BATCH,
        lease: float = DEFAULT_LEASE,
        max_attempts: int = 10,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        min_wait: float = 0.01,
        prepare_concurrency: int = 32,
        owner: str | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a timer scheduler needs at least one handler")
        self.db, self.uow, self.handlers, self.clock = db, uow, dict(handlers), clock
        self.kinds = sorted(self.handlers)
        self.direct_kinds = [k for k in self.kinds if self.handlers[k].prepare is None]
        self.leased_kinds = [k for k in self.kinds if self.handlers[k].prepare is not None]
        self.batch, self.lease, self.max_attempts = batch, lease, max_attempts
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self.poll_interval, self.min_wait = poll_interval, min_wait
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:100]
        self.prepare_concurrency = prepare_concurrency
        self._lag = {kind: LAG.labels(kind) for kind in self.kinds}  # one lookup, not one a fire
        # the next batch, leased and preparing
        self._ahead: tuple[list[Timer], asyncio.Task[_Batch]] | None = None

    async def start(self) -> None:
        """On SQLite this scheduler is the only one: leases left by a crash are freed."""
        if self.db.is_sqlite:
            now = self.clock.now()
            freed = await self.db.transact(lambda s: store.release_claims(s, now))
            if freed:
                log.warning("freed timer claims of a stopped scheduler", extra={"timers": freed})

    async def run_once(self) -> list[FireResult]:
        """One round: up to `batch` due timers of the kinds without a prepare step, taken and
        fired in one transaction, then up to `batch` of the others, leased across their
        prepare steps. Returns what became of each."""
        results: list[FireResult] = []
        if self.direct_kinds:
            results += await self._direct_round()
        if self.leased_kinds:
            results += await self._leased_round(self.leased_kinds)
        self._observe(results)
        return results

    async def _direct_round(self) -> list[FireResult]:
        try:
            return await self.db.run(self._take_and_fire)
        except Exception as e:
            log.warning("timer batch fell back to one by one", extra={"error": repr(e)})
        return await self._leased_round(self.direct_kinds, together=False)

    def _take_and_fire(self) -> list[FireResult]:
        with self.uow() as uow:
            taken = store.take(uow.session, self.direct_kinds, self.clock.now(), self.batch)
            self._warm(uow, taken)
            for timer in taken:
                self.handlers[timer.kind].apply(uow, timer, None)
            uow.commit()
        return self._results(taken, [], [])

    async def _leased_round(self, kinds: Sequence[str], together: bool = True) -> list[FireResult]:
        ahead = self._ahead if together else None
        if ahead is not None:
            batch = await ahead[1]  # still ours to give back if this is cancelled meanwhile
            self._ahead = None
        else:
            claimed = await self._claim(kinds)
            if not claimed:
                return []
            batch = await self._prepared(claimed)
        if together and len(batch.claimed) >= self.batch:
            await self._claim_ahead(kinds)
        try:
            return await self.db.run(self._fire, batch, together)
        except Exception as e:
            log.exception("timer batch transaction failed", extra={"timers": len(batch.claimed)})
            return await self._release(batch.claimed, e)

    async def _claim(self, kinds: Sequence[str]) -> list[Timer]:
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.lease)
        return await self.db.transact(
            lambda s: store.claim(s, kinds, now, lease_until, self.owner, self.batch)
        )

    async def _claim_ahead(self, kinds: Sequence[str]) -> None:
        """Leases the next batch and starts its prepare steps; a failed claim only means
        the next round claims as usual."""
        try:
            claimed = await self._claim(kinds)
        except Exception as e:
            log.warning("timer claim ahead failed", extra={"error": repr(e)})
            return
        if claimed:
            self._ahead = (claimed, asyncio.create_task(self._prepared(claimed)))

    async def _prepared(self, claimed: list[Timer]) -> _Batch:
        """Runs the handlers' I/O steps, `prepare_concurrency` at a time (that many tasks
        take the timers in turn, not a task a timer), before any transaction opens."""
        prepared: dict[str, Any] = {}
        failures: dict[str, _Failure] = {}
        todo = iter(claimed)

        async def worker() -> None:
            for timer in todo:
                step = self.handlers[timer.kind].prepare
                try:
                    prepared[timer.id] = None if step is None else await step(timer)
                except Exception as e:
                    failures[timer.id] = _Failure(timer, e)

        await asyncio.gather(
            *(worker() for _ in range(min(self.prepare_concurrency, len(claimed))))
        )
        return _Batch(claimed, prepared, failures)

    async def give_back(self) -> None:
        """Frees the batch leased ahead and not fired, so it fires at once (in the next
        round, or on another replica) instead of when its lease ends."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        claimed, task = ahead
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        now = self.clock.now()
        try:
            await self.db.transact(lambda s: store.release(s, claimed, self.owner, now))
        except Exception as e:
            log.warning("could not give back timer claims", extra={"error": repr(e)})

    def _fire(self, batch: _Batch, together: bool) -> list[FireResult]:
        if together:
            try:
                return self._fire_together(batch)
            except Exception as e:
                log.warning("timer batch fell back to one by one", extra={"error": repr(e)})
        return self._fire_one_by_one(batch)

    def _fire_together(self, batch: _Batch) -> list[FireResult]:
        claimed, prepared, failed = batch.claimed, batch.prepared, batch.failures
        with self.uow() as uow:
            ready = [t.id for t in claimed if t.id not in failed]
            retired = store.retire(uow.session, ready)
            self._warm(uow, [t for t in claimed if t.id in retired])
            fired: list[Timer] = []
            gone: list[Timer] = []
            for timer in claimed:
                if timer.id in retired:
                    self.handlers[timer.kind].apply(uow, timer, prepared[timer.id])
                    fired.append(timer)
                elif timer.id not in failed:
                    gone.append(timer)
            settled = self._settle_failures(uow.session, list(failed.values()))
            uow.commit()
        return self._results(fired, gone, settled)

    def _fire_one_by_one(self, batch: _Batch) -> list[FireResult]:
        claimed, prepared, failed = batch.claimed, batch.prepared, batch.failures
        fired: list[Timer] = []
        gone: list[Timer] = []
        failures = list(failed.values())
        with self.uow() as uow:
            for timer in claimed:
                if timer.id in failed:
                    continue
                try:
                    with uow.savepoint():  # what the handler buffered goes with a failure
                        if not store.retire(uow.session, [timer.id]):
                            gone.append(timer)
                            continue
                        self.handlers[timer.kind].apply(uow, timer, prepared[timer.id])
                    fired.append(timer)
                except Exception as e:
                    failures.append(_Failure(timer, e))
            settled = self._settle_failures(uow.session, failures)
            uow.commit()
        return self._results(fired, gone, settled)

    def _warm(self, uow: Any, fired: Sequence[Timer]) -> None:
        """Each kind's warm step, with its timers of the batch."""
        for kind in self.kinds:
            warm = self.handlers[kind].warm
            mine = [t for t in fired if t.kind == kind]
            if warm is not None and mine:
                warm(uow, mine)

    def _settle_failures(self, session: Any, failures: Sequence[_Failure]) -> list[FireResult]:
        """Parks the timers that are out of attempts, reschedules the others with back-off."""
        now = self.clock.now()
        retry: list[store.Retry] = []
        dead: list[tuple[Timer, str]] = []
        results: list[FireResult] = []
        for f in failures:
            attempts = f.timer.attempts + 1
            error = f"{type(f.error).__name__}: {f.error}"
            log.warning(
                "timer handler failed",
                extra={"timer_id": f.timer.timer_id, "kind": f.timer.kind, "error": error},
            )
            if is_fatal(f.error, attempts, self.max_attempts):
                dead.append((f.timer, error))
                results.append(FireResult(f.timer, Outcome.DEAD, error=error))
                continue
            delay = retry_delay(attempts, self.retry_base, self.retry_cap)
            retry.append((f.timer, error, now + timedelta(seconds=delay), True))
            results.append(FireResult(f.timer, Outcome.FAILED, error=error))
        store.reschedule_failed(session, retry)
        store.park(session, dead, now)
        return results

    def _results(
        self, fired: Sequence[Timer], gone: Sequence[Timer], settled: Sequence[FireResult]
    ) -> list[FireResult]:
        now = self.clock.now()
        results = [FireResult(t, Outcome.FIRED, (now - t.due_time).total_seconds()) for t in fired]
        results += [FireResult(t, Outcome.GONE) for t in gone]
        return results + list(settled)

    async def _release(self, claimed: Sequence[Timer], error: BaseException) -> list[FireResult]:
        """The batch's transaction failed (database trouble): give the claims back for a
        retry, uncounted; if even that fails, the leases run out on their own."""
        text = f"{type(error).__name__}: {error}"
        retry_at = self.clock.now() + timedelta(seconds=self.retry_base)
        rows = [(t, text, retry_at, False) for t in claimed]
        try:
            await self.db.transact(lambda s: store.reschedule_failed(s, rows))
        except Exception as e:
            log.warning("could not release timer claims", extra={"error": repr(e)})
        return [FireResult(t, Outcome.FAILED, error=text) for t in claimed]

    def _observe(self, results: Sequence[FireResult]) -> None:
        fired: dict[str, int] = {}
        for r in results:
            kind = r.timer.kind
            if r.outcome is Outcome.FIRED:
                fired[kind] = fired.get(kind, 0) + 1
                self._lag[kind].observe(max(r.lag, 0.0))
            elif r.outcome is not Outcome.GONE:
                FAILED.labels(kind).inc()
            if r.outcome is Outcome.DEAD:
                DEAD.labels(kind).inc()
                log.error(
                    "timer parked as dead",
                    extra={"timer_id": r.timer.timer_id, "kind": kind, "error": r.error},
                )
        for kind, n in fired.items():
            FIRED.labels(kind).inc(n)

    async def idle(self, stop: asyncio.Event) -> None:
        """Waits until the earliest timer may be claimed: at most `poll_interval` (a timer
        scheduled meanwhile is seen by then), at least `min_wait` (so a stream of due
        timers is fired in batches, not one transaction each)."""
        try:
            earliest = await self.db.read(lambda s: store.next_try(s, self.kinds))
        except Exception as e:
            log.warning("timer poll failed", extra={"error": repr(e)})
            earliest = None
        delay = self.poll_interval
        if earliest is not None:
            delay = min(delay, (earliest - self.clock.now()).total_seconds())
        delay = max(delay, self.min_wait)
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def run(self, stop: asyncio.Event) -> None:
        """Fires timers until `stop` is set; the batch under way when it is set completes,
        the one leased ahead is given back."""
        try:
            await self._run(stop)
        finally:
            await self.give_back()

    async def _run(self, stop: asyncio.Event) -> None:
        started = False
        while not stop.is_set():
            try:
                if not started:
                    await self.start()
                    started = True
                results = await self.run_once()
            except Exception:
                log.exception("timer round failed")
                await self.idle(stop)
                continue
            if len(results) < self.batch:
                await self.idle(stop)
