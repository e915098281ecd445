"""Read models that mirror another service's aggregate: the newest version wins.

Integration events arrive at least once and not always in order (redelivery,
several consumer replicas), so a projection keeps a snapshot only when it is
newer than the one stored. The check and the write are one statement, so two
writers racing on the same row cannot put an older snapshot over a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def save_if_newer(session: Session, table: Table, row: Mapping[str, object], version: str) -> bool:
    """Inserts `row`, or replaces the stored row of the same primary key only when
    `row[version]` is greater; returns whether it wrote (False: stale or a repeat).

    A snapshot without its key or with a version below 1 is a producer's bug: ValueError,
    so the consumer dead-letters it instead of storing a row nothing can find or replace.
    """
    key = [c.name for c in table.primary_key.columns]
    if missing := [k for k in key if not row.get(k)]:
        raise ValueError(f"{table.name} snapshot without {', '.join(missing)}")
    number = row.get(version)
    if not isinstance(number, int) or number < 1:
        raise ValueError(f"{table.name} snapshot with version {number!r}; expected >= 1")
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(dict(row))
        stmt = pg.on_conflict_do_update(
            index_elements=key,
            set_={c: pg.excluded[c] for c in row if c not in key},
            where=table.c[version] < pg.excluded[version],
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(dict(row))
        stmt = lite.on_conflict_do_update(
            index_elements=key,
            set_={c: lite.excluded[c] for c in row if c not in key},
            where=table.c[version] < lite.excluded[version],
        )
    else:
        raise NotImplementedError(f"save_if_newer does not support {dialect}")
    return session.execute(stmt.returning(table.c[version])).first() is not None
