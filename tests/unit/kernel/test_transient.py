"""Which database errors a consumer retries forever, and which count against a message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import exc

from services.kernel.errors import ConcurrencyError, Unprocessable
from services.kernel.store.transient import is_transient


def real_sqlite_lock_error(path: Path) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as raised:
            waiter.execute("BEGIN IMMEDIATE")
        return raised.value
    finally:
        holder.close()
        waiter.close()


def wrapped(orig: Exception) -> exc.OperationalError:
    return exc.OperationalError("statement", {}, orig)


def test_sqlite_database_is_locked_is_transient(tmp_path: Path) -> None:
    error = real_sqlite_lock_error(tmp_path / "x.db")
    assert "locked" in str(error)
    assert is_transient(wrapped(error)) and is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ConcurrencyError("moved past version 2"),
        wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
        wrapped(psycopg.errors.SerializationFailure("could not serialize")),
        wrapped(psycopg.errors.LockNotAvailable("lock timeout")),
        wrapped(psycopg.errors.AdminShutdown("terminating connection")),
        exc.TimeoutError("QueuePool limit reached"),
    ],
    ids=["concurrency", "deadlock", "serialization", "lock-timeout", "shutdown", "pool"],
)
def test_conflicts_and_outages_are_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad trait"),
        Unprocessable("no profile"),
        wrapped(sqlite3.OperationalError("no such table: things")),
        exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
    ],
    ids=["value", "unprocessable", "sqlite-schema", "unique"],
)
def test_bugs_and_bad_data_are_not(error: Exception) -> None:
    assert not is_transient(error)
