"""A scheduler process for the crash and replica tests: fires `test.remind` timers into
the effects table until SIGTERM (or kill -9).

    python -m tests.integration.kernel.timer_worker URL WORKER [--batch N] [--lease S]
        [--pace S] [--leased]

`--pace` holds each fire transaction open a while per timer, so a kill lands inside it;
`--leased` gives the handler a prepare step, so timers are leased before they fire.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import Any

from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.timers import Timer, TimerHandler, TimerScheduler
from tests.integration.kernel.timers_support import KIND, record


async def main(args: argparse.Namespace) -> None:
    db = Database(args.url)
    clock = SystemClock()
    effect = record(args.worker)

    async def prepare(_timer: Timer) -> None:
        return None

    def apply(uow: UnitOfWork, timer: Timer, prepared: Any) -> None:
        effect(uow, timer, prepared)
        time.sleep(args.pace)

    scheduler = TimerScheduler(
        db,
        UnitOfWorkFactory(db.sessions, clock),
        {KIND: TimerHandler(apply, prepare if args.leased else None)},
        clock,
        batch=args.batch,
        lease=args.lease,
        poll_interval=0.1,
        owner=args.worker,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await scheduler.run(stop)
    finally:
        db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("worker")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--leased", action="store_true")
    asyncio.run(main(parser.parse_args()))
