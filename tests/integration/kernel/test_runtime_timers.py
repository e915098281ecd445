"""The runtime fires an app's timers, and a graceful stop finishes the batch under way."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from services.kernel.clock import FixedClock
from services.kernel.config import load_settings
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.runtime import App, Context, Runtime
from services.kernel.store.database import Database
from services.kernel.timers import Timer, TimerHandler, schedule
from tests.integration.kernel.support import effects_metadata
from tests.integration.kernel.timers_support import KIND, count, fired, record
from tests.polling import eventually
from tests.signing import ENV as SIGNING


async def test_the_runtime_fires_timers_and_a_stop_finishes_the_current_batch(
    nats_server: NatsServer, tmp_path: Path, tenant: str, clock: FixedClock
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def held(timer: Timer) -> None:
        if timer.timer_id == "held":
            entered.set()
            await release.wait()

    app = App(name="orchestrator", timers=lambda _ctx: {KIND: TimerHandler(record("rt"), held)})
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    settings = load_settings(
        "orchestrator",
        SIGNING
        | {
            "LAYERCAKE_ORCHESTRATOR_ADDR": "127.0.0.1:0",
            "LAYERCAKE_ORCHESTRATOR_METRICS_PORT": "0",
            "LAYERCAKE_ORCHESTRATOR_DATABASE_URL": url,
            "LAYERCAKE_NATS_URL": nats_server.url,
            "LAYERCAKE_SHUTDOWN_GRACE": "5",
            "LAYERCAKE_TIMER_POLL_INTERVAL": "0.05",
            "LAYERCAKE_TIMER_BATCH": "8",
        },
    )
    runtime = Runtime(app, settings, clock=clock)
    serving = asyncio.create_task(runtime.serve())
    try:

        async def started() -> Context | None:
            if serving.done():
                serving.result()
            return runtime.context if runtime.server is not None else None

        ctx = await eventually(started)
        effects_metadata.create_all(ctx.db.engine)
        with ctx.uow() as uow:
            schedule(uow, "now", clock.now(), b"", tenant_id=tenant, kind=KIND)
            schedule(
                uow, "later", clock.now() + timedelta(hours=1), b"", tenant_id=tenant, kind=KIND
            )
            uow.commit()
        await eventually(lambda: _fired_is(ctx.db, ["now"]))

        with ctx.uow() as uow:
            schedule(uow, "held", clock.now(), b"", tenant_id=tenant, kind=KIND)
            uow.commit()
        await asyncio.wait_for(entered.wait(), 10)
        runtime.stop_event.set()
        await eventually(lambda: _is_set(runtime._workers_stop))
        release.set()
        await asyncio.wait_for(serving, 15)
    finally:
        release.set()
        if not serving.done():
            runtime.stop_event.set()
            await asyncio.wait_for(serving, 15)

    db = Database(url)
    try:
        assert fired(db) == ["now", "held"]
        assert count(db) == 1  # "later" waits for its time
    finally:
        db.dispose()


async def _fired_is(db: Database, expected: list[str]) -> bool:
    return fired(db) == expected


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()
