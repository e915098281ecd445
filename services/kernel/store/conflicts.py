"""Inserts on the write path: `ON CONFLICT DO NOTHING` (or `DO UPDATE`), and straight
through the driver.

A conflict shows as fewer rows written instead of an error, which costs no
savepoint and keeps the caller's transaction usable (PostgreSQL aborts a
transaction on a unique violation). The event store's and the outbox's inserts
run on every command, so `DriverInsert` sends them through the driver's cursor
with SQL built once: SQLAlchemy's per-statement work cost more than the insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

_MAX_PARAMETERS = 30_000  # below SQLite's 32,766 and PostgreSQL's 65,535 per statement


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


class DriverInsert:
    """One INSERT of fixed columns into `table`, sent through the driver's cursor.

    Rows are tuples in `columns` order with times passed through `time()`; driver
    errors come out as SQLAlchemy's (IntegrityError, OperationalError, ...), as Core's.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        dialect: str,
        *,
        unless_conflict: bool = False,
        returning: Sequence[str] = (),
    ) -> None:
        if dialect not in {"sqlite", "postgresql"}:
            raise NotImplementedError(f"no driver insert for {dialect}")
        self.sqlite = dialect == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self._head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        self._row = "(" + ", ".join([mark] * len(columns)) + ")"
        self._tail = (" ON CONFLICT DO NOTHING" if unless_conflict else "") + (
            f" RETURNING {', '.join(returning)}" if returning else ""
        )
        self._returning = bool(returning)
        self._per_statement = max(1, _MAX_PARAMETERS // len(columns))
        self._sql = cache(self._statement)

    def _statement(self, rows: int) -> str:
        return self._head + ", ".join([self._row] * rows) + self._tail

    def time(self, value: datetime) -> object:
        """A time as this backend's driver takes it (aware UTC, as `UtcDateTime` insists);
        SQLite gets text in SQLAlchemy's format, so Core reads back what is written here."""
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if not self.sqlite:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def rows(
        self, connection: Connection, rows: Sequence[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """Inserts `rows` in as few statements as fit; returns the RETURNING rows."""
        out: list[tuple[Any, ...]] = []
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for start in range(0, len(rows), self._per_statement):
                chunk = rows[start : start + self._per_statement]
                sql = self._sql(len(chunk))
                params = [value for row in chunk for value in row]
                try:
                    cursor.execute(sql, params)
                    if self._returning:
                        out += cursor.fetchall()
                except connection.dialect.loaded_dbapi.Error as e:
                    dbapi = connection.dialect.loaded_dbapi
                    raise DBAPIError.instance(
                        sql, params, e, dbapi.Error, dialect=connection.dialect
                    ) from e
        finally:
            cursor.close()
        return out


@cache
def upsert_statement(
    table: Table, dialect: str, keys: tuple[str, ...], replaced: tuple[str, ...]
) -> Insert:
    """Insert, or on a conflict of `keys` overwrite the `replaced` columns with the new row's;
    built once per table, backend and shape."""
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is None:
        raise NotImplementedError(f"no upsert for {dialect}")
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[table.c[k] for k in keys],
        set_={name: stmt.excluded[name] for name in replaced},
    )
