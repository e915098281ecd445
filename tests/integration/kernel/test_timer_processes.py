"""Timers fire exactly once across kill -9 and restarts, and across two processes.

Each scheduler is a real process (tests/integration/kernel/timer_worker.py) whose
handler writes an effect row in the transaction that retires the timer, so the
effects table counts fires: a duplicate or a loss shows there.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.integration.kernel.support import effects
from tests.integration.kernel.timers_support import count, dead, fired, schedule_all
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[3]


class Worker:
    """One scheduler process; its stderr goes to a file that a failing test prints."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    @classmethod
    async def start(cls, db: Database, name: str, tmp: Path, *args: str) -> Worker:
        log = tmp / f"{name}.log"
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.kernel.timer_worker",
                db.url,
                name,
                *args,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        worker = cls(proc, log)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line == b"ready\n", worker.output()
        return worker

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 15)


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    """Every process a test starts, killed at the end whatever happened."""
    started: list[Worker] = []
    yield started
    for w in started:
        if w.proc.returncode is None:
            await w.kill()


def due_now(uow: UnitOfWorkFactory, tenant: str, ids: list[str]) -> None:
    now = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(0, len(ids), 1000):
        schedule_all(uow, tenant, ids[i : i + 1000], now)


async def reaches(db: Database, at_least: int) -> int:
    async def enough() -> int | None:
        n = len(fired(db))
        return n if n >= at_least else None

    return await eventually(enough, timeout=60, interval=0.02)


MODES = pytest.mark.parametrize("mode", [(), ("--leased",)], ids=["taken", "leased"])
# Processes start slowly on a busy machine; these wait for outcomes, they time nothing.
pytestmark = pytest.mark.timeout(300)


@MODES
async def test_kill_9_in_the_middle_of_firing_then_restart_fires_every_timer_once(
    with_effects: Database,
    uow: UnitOfWorkFactory,
    tenant: str,
    tmp_path: Path,
    workers: list[Worker],
    mode: tuple[str, ...],
) -> None:
    ids = [f"t{i:05}" for i in range(1000)]
    due_now(uow, tenant, ids)
    # each fire transaction stays open ~25 ms, so the kill lands inside one
    args = ("--batch", "25", "--lease", "2", "--pace", "0.001", *mode)

    workers.append(await Worker.start(with_effects, "killed", tmp_path, *args))
    await reaches(with_effects, len(ids) // 3)
    await workers[-1].kill()
    assert len(fired(with_effects)) < len(ids), "the kill came after the last fire"

    workers.append(await Worker.start(with_effects, "restarted", tmp_path, *args))
    await eventually(lambda: _drained(with_effects), timeout=120)
    assert await workers[-1].stop() == 0, workers[-1].output()

    assert sorted(fired(with_effects)) == ids
    assert dead(with_effects) == {}


@MODES
async def test_two_processes_fire_5000_timers_none_twice_none_lost(
    with_effects: Database,
    uow: UnitOfWorkFactory,
    tenant: str,
    tmp_path: Path,
    workers: list[Worker],
    mode: tuple[str, ...],
) -> None:
    if with_effects.is_sqlite:
        pytest.skip("replicas share a database on PostgreSQL; SQLite has one scheduler")
    for name in ("a", "b"):
        workers.append(await Worker.start(with_effects, name, tmp_path, "--batch", "100", *mode))
    ids = [f"t{i:05}" for i in range(5000)]
    due_now(uow, tenant, ids)

    await eventually(lambda: _drained(with_effects), timeout=120)
    for w in workers:
        assert await w.stop() == 0, w.output()

    assert sorted(fired(with_effects)) == ids
    assert _workers_of(with_effects) == {"a", "b"}, "both processes fired some"


async def _drained(db: Database) -> bool:
    return count(db) == 0


def _workers_of(db: Database) -> set[str]:
    with db.read_sessions() as s, s.begin():
        return set(s.execute(select(effects.c.worker).distinct()).scalars())
