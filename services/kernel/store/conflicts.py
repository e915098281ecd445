"""Inserts on the write path: `ON CONFLICT DO NOTHING` (or `DO UPDATE`), and straight
through the driver.

A conflict shows as fewer rows written instead of an error, which costs no
savepoint and keeps the caller's transaction usable (PostgreSQL aborts a
transaction on a unique violation). The event store's and the outbox's inserts
run on every command, so `DriverInsert` sends them through the driver's cursor
with SQL built once: SQLAlchemy's per-statement work cost more than the insert.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

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
    PostgreSQL gets one array per column (`SELECT * FROM unnest(...)`): a short
    statement whatever the row count, which psycopg parses once and caches instead of
    re-scanning a thousand placeholders. SQLite gets `executemany` of the one-row
    statement when nothing is returned (its fastest way), else multi-row VALUES.
    With `replace_on` (a unique key) a row of the same key is overwritten: every other
    column takes the new row's value (an upsert); with `add_on`, every other column adds
    the new row's value to its own (a counter's upsert).
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        dialect: str,
        *,
        unless_conflict: bool = False,
        returning: Sequence[str] = (),
        replace_on: Sequence[str] = (),
        add_on: Sequence[str] = (),
    ) -> None:
        if dialect not in {"sqlite", "postgresql"}:
            raise NotImplementedError(f"no driver insert for {dialect}")
        if sum(map(bool, (unless_conflict, replace_on, add_on))) > 1:
            raise ValueError("a conflict either skips, replaces or adds to the row, not both")
        self.sqlite = dialect == "sqlite"
        head = f"INSERT INTO {table.name} ({', '.join(columns)}) "
        self._row = "(" + ", ".join(["?"] * len(columns)) + ")"
        self._conflict = " ON CONFLICT DO NOTHING" if unless_conflict else ""
        if replace_on:
            replaced = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in replace_on)
            self._conflict = f" ON CONFLICT ({', '.join(replace_on)}) DO UPDATE SET {replaced}"
        if add_on:
            added = ", ".join(
                f"{c} = {table.name}.{c} + excluded.{c}" for c in columns if c not in add_on
            )
            self._conflict = f" ON CONFLICT ({', '.join(add_on)}) DO UPDATE SET {added}"
        self._returning = f" RETURNING {', '.join(returning)}" if returning else ""
        self._head = head + "VALUES "
        self._per_statement = max(1, _MAX_PARAMETERS // len(columns))
        self._sql = cache(self._statement)
        arrays = ", ".join(f"%b::{_array_type(table.c[c].type)}" for c in columns)
        self._unnest = f"{head}SELECT * FROM unnest({arrays}){self._conflict}"

    def _statement(self, rows: int) -> str:
        return self._head + ", ".join([self._row] * rows) + self._conflict + self._returning

    def time(self, value: datetime) -> object:
        """A time as this backend's driver takes it (`driver_time`)."""
        return driver_time(value, "sqlite" if self.sqlite else "postgresql")

    def rows(
        self, connection: Connection, rows: Sequence[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """Inserts `rows` in as few statements as fit; returns the RETURNING rows."""
        out: list[tuple[Any, ...]] = []
        if not rows:
            return out
        with _cursor(connection) as cursor:
            if not self.sqlite:
                columns = [list(column) for column in zip(*rows, strict=True)]
                _run(connection, cursor.execute, self._unnest + self._returning, columns)
                return cursor.fetchall()  # type: ignore[no-any-return]
            for start in range(0, len(rows), self._per_statement):
                chunk = rows[start : start + self._per_statement]
                params = [value for row in chunk for value in row]
                _run(connection, cursor.execute, self._sql(len(chunk)), params)
                out += cursor.fetchall()
        return out

    def count(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Inserts `rows` with nothing returned; returns how many were written (fewer than
        given when `unless_conflict` skipped some)."""
        if not rows:
            return 0
        with _cursor(connection) as cursor:
            if self.sqlite:
                one = self._head + self._row + self._conflict
                _run(connection, cursor.executemany, one, rows)
            else:
                columns = [list(column) for column in zip(*rows, strict=True)]
                _run(connection, cursor.execute, self._unnest, columns)
            return int(cursor.rowcount)


def driver_time(value: datetime, dialect: str) -> object:
    """A time as `dialect`'s driver takes it for a `UtcDateTime` column (aware UTC, as the
    column insists); SQLite gets text in SQLAlchemy's format, so Core reads back what is
    written here, and text compares in time order."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if dialect != "sqlite":
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@contextlib.contextmanager
def _cursor(connection: Connection) -> Iterator[Any]:
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def _run(connection: Connection, send: Callable[[str, Any], object], sql: str, params: Any) -> None:
    """Sends through the driver; its errors come out as SQLAlchemy's, as Core's would."""
    dbapi = connection.dialect.loaded_dbapi
    try:
        send(sql, params)
    except dbapi.Error as e:
        raise DBAPIError.instance(sql, params, e, dbapi.Error, dialect=connection.dialect) from e


def _array_type(column_type: TypeEngine[Any]) -> str:
    """PostgreSQL's array of the column's type without its length (`VARCHAR[]`): a cast to
    VARCHAR(64) would cut a longer value short, where the insert must refuse it."""
    name = column_type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return re.sub(r"\(\d+\)", "", name) + "[]"


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
