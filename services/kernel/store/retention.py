"""Rows kept for a while (recorded answers of idempotent calls), deleted once their time
is up by a task of the runtime, in bounded batches so no round holds locks for long.

Replicas pruning the same PostgreSQL table at once skip each other's locked rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, Select, Table, delete, select, tuple_
from sqlalchemy.orm import Session

from services.kernel.clock import Clock
from services.kernel.store.database import Database

log = logging.getLogger(__name__)

Prune = Callable[[Session, datetime, int], int]
"""Deletes at most `limit` rows recorded before a cutoff; returns how many."""


def expired(
    table: Table, recorded: Column[datetime], before: datetime, limit: int
) -> Select[tuple[object, ...]]:
    """The keys of the oldest `limit` rows recorded before `before` (read with EXPLAIN by
    the tests: it must seek an index on `recorded`, never scan the table)."""
    return (
        select(*table.primary_key.columns)
        .where(recorded < before)
        .order_by(recorded)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def delete_expired(
    session: Session, table: Table, recorded: Column[datetime], before: datetime, limit: int
) -> int:
    """Deletes the oldest `limit` rows recorded before `before`; returns how many."""
    keys = [tuple(row) for row in session.execute(expired(table, recorded, before, limit))]
    if keys:
        columns = tuple_(*table.primary_key.columns)
        session.execute(delete(table).where(columns.in_(keys)))
    return len(keys)


class Pruner:
    """Runs `prune` for rows older than `keep` every `interval` seconds: up to `rounds`
    transactions of `batch` rows each time, until a batch comes back short."""

    def __init__(
        self,
        name: str,
        db: Database,
        clock: Clock,
        prune: Prune,
        keep: timedelta,
        *,
        interval: float = 60.0,
        batch: int = 1000,
        rounds: int = 20,
    ) -> None:
        self.name, self.db, self.clock, self.prune, self.keep = name, db, clock, prune, keep
        self.interval, self.batch, self.rounds = interval, batch, rounds

    async def run_once(self) -> int:
        """One pass; returns how many rows it deleted."""
        deleted = 0
        for _ in range(self.rounds):
            n = await self.db.transact(self._prune_batch)
            deleted += n
            if n < self.batch:
                break
        return deleted

    def _prune_batch(self, session: Session) -> int:
        return self.prune(session, self.clock.now() - self.keep, self.batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Prunes until `stop` is set; a failed pass is logged and tried again later."""
        while not stop.is_set():
            try:
                deleted = await self.run_once()
                if deleted:
                    log.info("pruned expired rows", extra={"what": self.name, "rows": deleted})
            except Exception as e:
                log.warning(
                    "pruning failed; trying again later",
                    extra={"what": self.name, "error": repr(e)},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
