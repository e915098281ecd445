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

from services.gateway.ports import MessageIds
from services.gateway.store.tables import ingest_message_ids as t
from services.kernel.store.conflicts import upsert_statement


def seen_query(tenant_id: str, message_ids: Collection[str], now: datetime) -> Select[Any]:
    """The hot lookup (kept apart so a test can EXPLAIN it)."""
    return select(t.c.message_id, t.c.sequence).where(
        t.c.tenant_id == tenant_id,
        t.c.message_id.in_(sorted(message_ids)),
        t.c.expire_time > now,
    )


class SqlMessageIds(MessageIds):
    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, tenant_id: str, message_ids: Collection[str], now: datetime) -> dict[str, int]:
        if not message_ids:
            return {}
        rows = self.session.execute(seen_query(tenant_id, message_ids, now))
        return {m: s for m, s in rows}

    def remember(self, tenant_id: str, accepted: Mapping[str, int], expire_time: datetime) -> None:
        if not accepted:
            return
        connection = self.session.connection()
        # an id whose row expired but is not pruned yet starts its window again
        keys, replaced = ("tenant_id", "message_id"), ("expire_time", "sequence")
        rows = [
            {"tenant_id": tenant_id, "message_id": m, "expire_time": expire_time, "sequence": s}
            for m, s in sorted(accepted.items())  # one lock order: batches never deadlock
        ]
        connection.execute(upsert_statement(t, connection.dialect.name, keys, replaced), rows)

    def prune(self, now: datetime, limit: int) -> int:
        expired = (
            select(t.c.tenant_id, t.c.message_id)
            .where(t.c.expire_time <= now)
            .order_by(t.c.expire_time)
            .limit(limit)
            .with_for_update(skip_locked=True)  # replicas pruning at once take different rows
        )
        keys = [tuple(row) for row in self.session.execute(expired)]
        if keys:
            self.session.execute(delete(t).where(tuple_(t.c.tenant_id, t.c.message_id).in_(keys)))
        return len(keys)
