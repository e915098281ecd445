"""Engines and sessions, and the bounded executor that keeps the event loop free.

SQLAlchemy runs synchronously in a small thread pool; async code awaits
`Database.run(fn)`, where `fn` gets a session inside one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
READ_ONLY = "layercake_read_only"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; SQLite paths get their directory created."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _tune_sqlite(engine: Engine) -> None:
    """WAL, full fsync and `BEGIN IMMEDIATE`: writers queue instead of failing late;
    `secure_delete` overwrites deleted rows, so an erased person's bytes leave the file."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # a reader under WAL needs no lock: it must not queue behind the writers
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str, pool_size: int = 4) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)


class Database:
    """One service's database: a sync engine used from a bounded thread pool."""

    def __init__(self, url: str, workers: int = 4) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=workers)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        with self.transaction() as session:
            return fn(session)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs a blocking `fn(*args)` in the pool, off the event loop."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()  # keeps the trace context in the worker thread
        return await loop.run_in_executor(self._executor, functools.partial(ctx.run, fn, *args))

    async def transact(self, fn: Callable[[Session], T]) -> T:
        """Runs `fn(session)` in one transaction, in the pool."""
        return await self.run(self.run_sync, fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Runs a query `fn(session)` in a read-only transaction, in the pool."""

        def run() -> T:
            with self.read_sessions() as session, session.begin():
                return fn(session)

        return await self.run(run)

    def truncate_wal(self) -> None:
        """SQLite: checkpoints the write-ahead log and truncates it to nothing, so the
        copies of pages that deleted rows left there (a forgotten person's data) go too;
        `secure_delete` has zeroed them in the database itself. Other databases: nothing."""
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()
        try:  # outside any transaction, or SQLite cannot checkpoint
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()

    def dispose(self) -> None:
        """Waits for running work, then closes every connection: for sync code only."""
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    async def close(self) -> None:
        """`dispose()` from async code: the wait for running work happens in a thread of
        its own, so the event loop (and whatever that work waits on) keeps going."""
        await asyncio.to_thread(self.dispose)
