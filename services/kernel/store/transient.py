"""Which database errors are the moment's fault, not the work's: retry them, never give up.

A deadlock, a lock or serialization conflict, a lost optimistic lock, SQLite's
"database is locked", a dropped connection: the same work succeeds when tried
again, so a consumer retries it with back-off and never dead-letters it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc

from services.kernel.errors import ConcurrencyError

# serialization_failure, deadlock_detected, lock_not_available, admin/crash shutdown,
# cannot_connect_now; class 08 is "connection exception".
_PG_TRANSIENT = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def is_transient(error: BaseException) -> bool:
    """True when `error` (or the driver error it wraps) would likely not recur on a retry."""
    if isinstance(error, ConcurrencyError | exc.TimeoutError):  # TimeoutError: pool exhausted
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return _driver_transient(error.orig)
    return _driver_transient(error)


def _driver_transient(error: BaseException | None) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
        return "locked" in str(error) or "busy" in str(error)
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and (state in _PG_TRANSIENT or state.startswith("08"))
