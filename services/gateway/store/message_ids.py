"""The ingest dedupe store: which message ids a tenant had accepted, until their window ends.

JetStream's own duplicate window is two minutes; this keeps a repeat recognisable for the
tenant's whole dedupe window (seven days by default). One query per request looks up all
of its message ids, seeking the primary key; expired rows are ignored at once and pruned
in bounded deletes later.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, tuple_
from sqlalchemy.orm import Session

from services.gateway.store.tables import ingest_message_ids as t
from services.kernel.store.conflicts import upsert_statement
from services.kernel.store.database import Database


def seen_query(tenant_id: str, message_ids: Collection[str], now: datetime) -> Select[Any]:
    """The hot lookup (kept apart so a test can EXPLAIN it)."""
    return select(t.c.message_id, t.c.sequence).where(
        t.c.tenant_id == tenant_id,
        t.c.message_id.in_(sorted(message_ids)),
        t.c.expire_time > now,
    )


def seen(
    session: Session, tenant_id: str, message_ids: Collection[str], now: datetime
) -> dict[str, int]:
    """The ids among `message_ids` accepted within their window, with their stream position."""
    if not message_ids:
        return {}
    return {m: s for m, s in session.execute(seen_query(tenant_id, message_ids, now))}


def remember(
    session: Session, tenant_id: str, accepted: Mapping[str, int], expire_time: datetime
) -> None:
    """Records message ids with their stream positions until `expire_time`."""
    if not accepted:
        return
    connection = session.connection()
    # an id whose row expired but is not pruned yet starts its window again
    keys, replaced = ("tenant_id", "message_id"), ("expire_time", "sequence")
    rows = [
        {"tenant_id": tenant_id, "message_id": m, "expire_time": expire_time, "sequence": s}
        for m, s in sorted(accepted.items())  # one lock order: batches never deadlock
    ]
    connection.execute(upsert_statement(t, connection.dialect.name, keys, replaced), rows)


def prune(session: Session, now: datetime, limit: int) -> int:
    """Deletes at most `limit` expired ids, oldest first; returns how many."""
    expired = (
        select(t.c.tenant_id, t.c.message_id)
        .where(t.c.expire_time <= now)
        .order_by(t.c.expire_time)
        .limit(limit)
        .with_for_update(skip_locked=True)  # replicas pruning at once take different rows
    )
    keys = [tuple(row) for row in session.execute(expired)]
    if keys:
        session.execute(delete(t).where(tuple_(t.c.tenant_id, t.c.message_id).in_(keys)))
    return len(keys)


class SqlMessageIds:
    """The store as the ingest handler's `MessageIds` port, on the database's worker pool."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def seen(
        self, tenant_id: str, message_ids: Collection[str], now: datetime
    ) -> dict[str, int]:
        return await self.db.read(lambda s: seen(s, tenant_id, message_ids, now))

    async def remember(
        self, tenant_id: str, accepted: Mapping[str, int], expire_time: datetime
    ) -> None:
        await self.db.transact(lambda s: remember(s, tenant_id, accepted, expire_time))

    async def prune(self, now: datetime, limit: int) -> int:
        return await self.db.transact(lambda s: prune(s, now, limit))
