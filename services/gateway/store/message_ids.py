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

from sqlalchemy import Insert, Select, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.gateway.ports import MessageIds
from services.gateway.store.tables import ingest_message_ids as t


def seen_query(tenant_id: str, message_ids: Collection[str], now: datetime) -> Select[Any]:
    """The hot lookup (kept apart so a test can EXPLAIN it)."""
    return select(t.c.message_id, t.c.sequence).where(
        t.c.tenant_id == tenant_id,
        t.c.message_id.in_(sorted(message_ids)),
        t.c.expire_time > now,
    )


def _remember_statement(dialect: str, now: datetime) -> Insert:
    """Inserts each id, or takes over its row when the row's window ended (an expired id
    not pruned yet starts again); RETURNING names the ids written, so an id another request
    holds is told apart without a second race."""
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}[dialect]
    stmt = module.insert(t)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[t.c.tenant_id, t.c.message_id],
        set_={"expire_time": stmt.excluded.expire_time, "sequence": stmt.excluded.sequence},
        where=t.c.expire_time <= now,
    ).returning(t.c.message_id)


class SqlMessageIds(MessageIds):
    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, tenant_id: str, message_ids: Collection[str], now: datetime) -> dict[str, int]:
        if not message_ids:
            return {}
        rows = self.session.execute(seen_query(tenant_id, message_ids, now))
        return {m: s for m, s in rows}

    def remember(
        self, tenant_id: str, accepted: Mapping[str, int], now: datetime, expire_time: datetime
    ) -> dict[str, int]:
        if not accepted:
            return {}
        connection = self.session.connection()
        rows = [
            {"tenant_id": tenant_id, "message_id": m, "expire_time": expire_time, "sequence": s}
            for m, s in sorted(accepted.items())  # one lock order: batches never deadlock
        ]
        written = connection.execute(_remember_statement(connection.dialect.name, now), rows)
        kept = {m for (m,) in written}
        held = [m for m in accepted if m not in kept]
        return self.seen(tenant_id, held, now) if held else {}

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
