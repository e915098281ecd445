"""Closing a database from async code never blocks the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from services.kernel.store.database import Database


async def test_close_waits_for_running_work_without_blocking_the_loop(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'close.db'}")
    started, release = threading.Event(), threading.Event()

    def work() -> bool:
        started.set()
        return release.wait(30)

    job = asyncio.create_task(db.run(work))
    await asyncio.to_thread(started.wait, 30)
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)  # close() is now waiting for `work`, off the loop
    assert not closing.done()
    release.set()  # only the loop can let `work` finish: a blocked loop never gets here
    await asyncio.wait_for(closing, 30)
    assert await job is True
