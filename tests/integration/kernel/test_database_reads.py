"""Read-only transactions never queue behind a writer (SQLite takes no lock for them)."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.kernel.store.database import Database
from services.kernel.store.schema import inbox


def count_inbox(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(inbox)).scalar_one())


async def test_a_read_is_answered_while_a_writer_holds_its_transaction(database: Database) -> None:
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with database.transaction() as s:
            s.execute(
                text(
                    "INSERT INTO inbox (consumer, event_id, processed_time) "
                    "VALUES ('w', 'e-1', CURRENT_TIMESTAMP)"
                )
            )
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert await asyncio.to_thread(holding.wait, 10)
        # the uncommitted row is invisible, and the read does not wait for the writer
        assert await asyncio.wait_for(database.read(count_inbox), timeout=5) == 0
    finally:
        release.set()
        thread.join()
    assert await database.read(count_inbox) == 1


def test_sqlite_overwrites_what_it_deletes(database: Database) -> None:
    """`secure_delete`: an erased person's bytes do not linger in free pages."""
    if not database.is_sqlite:
        return
    with database.transaction() as s:
        assert s.execute(text("PRAGMA secure_delete")).scalar_one() == 1
