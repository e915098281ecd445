"""`INSERT ... ON CONFLICT DO NOTHING` on each backend we support.

A conflict then shows as fewer rows written instead of an error, which costs no
savepoint and keeps the caller's transaction usable (PostgreSQL aborts a
transaction on a unique violation).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


@cache
def insert_unless_conflict(table: Table, dialect: str) -> Insert:
    """Built once per table and backend; RETURNING every column tells what was written
    (drivers do not all report a row count for it)."""
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:
        raise NotImplementedError(f"no conflict-free insert for {dialect}")
    return stmt.returning(*table.c)
