"""Read models that mirror another service's aggregate from the changes it publishes.

Integration events arrive at least once and not always in order (redelivery,
several consumer replicas), and each carries a change, not a snapshot: the new row
is a merge of the stored one and the change (see `kernel.profile_changes` for the
per-field versions that make the merge idempotent and order-free). The stored row
is read under a row lock, so two writers merging into one row never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from services.kernel.profile_copies import ProfileCopies
from services.kernel.store.conflicts import insert_unless_conflict

T = TypeVar("T")

Row = Mapping[Any, Any]  # a stored row by column name


def merge_row(
    session: Session,
    table: Table,
    key: Mapping[str, object],
    merge: Callable[[Row | None], Mapping[str, object] | None],
) -> bool:
    """Writes `merge(stored row or None)` at `key` (its columns other than the key);
    `merge` returns None when the change is a repeat or older: nothing is written.

    Returns whether it wrote. A key with an empty part is a producer's bug: ValueError,
    so the consumer dead-letters it instead of storing a row nothing can find.
    """
    if missing := [k for k, v in key.items() if not v]:
        raise ValueError(f"{table.name} change without {', '.join(missing)}")
    where = [table.c[k] == v for k, v in key.items()]
    for _ in range(2):
        found = session.execute(select(table).where(*where).with_for_update()).first()
        stored = found._mapping if found is not None else None
        merged = merge(stored)
        if merged is None:
            return False
        if stored is not None:
            session.execute(update(table).where(*where).values(dict(merged)))
            return True
        insert = insert_unless_conflict(table, session.get_bind().dialect.name)
        if session.execute(insert, dict(key) | dict(merged)).first() is not None:
            return True
        # another writer inserted the row meanwhile: merge into theirs
    raise AssertionError(f"{table.name} row inserted and gone within one transaction")


class SqlProfileCopies(ProfileCopies[T]):
    """Profile copies in one table keyed by tenant and profile, merged under a row lock."""

    def __init__(
        self,
        session: Session,
        table: Table,
        from_row: Callable[[Row], T],
        to_row: Callable[[T], Mapping[str, object]],
    ) -> None:
        self.session = session
        self.table = table
        self.from_row = from_row
        self.to_row = to_row

    def get(self, tenant_id: str, profile_id: str) -> T | None:
        t = self.table
        stmt = select(t).where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
        row = self.session.execute(stmt).first()
        return None if row is None else self.from_row(row._mapping)

    def merge(self, tenant_id: str, profile_id: str, merge: Callable[[T | None], T | None]) -> bool:
        def merged_row(row: Row | None) -> Mapping[str, object] | None:
            copy = merge(None if row is None else self.from_row(row))
            return None if copy is None else self.to_row(copy)

        key = {"tenant_id": tenant_id, "profile_id": profile_id}
        return merge_row(self.session, self.table, key, merged_row)

    def pop(self, tenant_id: str, profile_id: str) -> T | None:
        t = self.table
        stmt = delete(t).where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
        row = self.session.execute(stmt.returning(*t.c)).first()
        return None if row is None else self.from_row(row._mapping)
