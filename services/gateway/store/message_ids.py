"""The ingest dedupe store: which message ids a tenant had accepted, until their window ends.

JetStream's own duplicate window is two minutes; this keeps a repeat recognisable for the
tenant's whole dedupe window (seven days by default). One query per group commit looks up
all of its message ids, seeking the primary key; expired rows are ignored at once and pruned
in bounded deletes later.

The lookup and the write run once per group commit, with up to thousands of ids: their SQL
is written once per backend and sent as driver statements with the ids as one parameter
(a JSON array or object read by `json_each` on SQLite, arrays on PostgreSQL), so neither
SQLAlchemy's compiler nor a placeholder per id is paid per call.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Engine, delete, select, tuple_
from sqlalchemy.orm import Session

from services.gateway.ports import MessageIds
from services.gateway.store.tables import ingest_message_ids as t
from services.kernel.store.conflicts import driver_time

_SEEN = {
    "sqlite": "SELECT message_id, sequence FROM ingest_message_ids"
    " WHERE tenant_id = ? AND message_id IN (SELECT value FROM json_each(?))"
    " AND expire_time > ?",
    "postgresql": "SELECT message_id, sequence FROM ingest_message_ids"
    " WHERE tenant_id = %s AND message_id = ANY(%s) AND expire_time > %s",
}

# Inserts each id, or takes over its row when the row's window ended (an expired id not
# pruned yet starts again); RETURNING names the ids written, so an id another request holds
# is told apart without a second race. (`WHERE true`: SQLite's upsert after a SELECT.)
_TAKE_OVER = (
    " ON CONFLICT (tenant_id, message_id) DO UPDATE"
    " SET expire_time = excluded.expire_time, sequence = excluded.sequence"
)
_REMEMBER = {
    "sqlite": "INSERT INTO ingest_message_ids (tenant_id, message_id, expire_time, sequence)"
    " SELECT ?, key, ?, value FROM json_each(?) WHERE true"
    + _TAKE_OVER
    + " WHERE ingest_message_ids.expire_time <= ? RETURNING message_id",
    "postgresql": "INSERT INTO ingest_message_ids (tenant_id, message_id, expire_time, sequence)"
    " SELECT %s, m, %s, s FROM unnest(%s::varchar[], %s::bigint[]) AS r(m, s)"
    + _TAKE_OVER
    + " WHERE ingest_message_ids.expire_time <= %s RETURNING message_id",
}


def _seen_parameters(
    dialect: str, tenant_id: str, message_ids: Collection[str], now: datetime
) -> tuple[object, ...]:
    ids = sorted(message_ids)
    return (tenant_id, json.dumps(ids) if dialect == "sqlite" else ids, driver_time(now, dialect))


def seen_by_driver(
    engine: Engine, wanted: Mapping[str, Collection[str]], now: datetime
) -> dict[str, dict[str, int]]:
    """A group commit's lookup (per tenant, the ids among those wanted accepted within their
    window) on a pooled connection, without a session or unit of work: it runs once per
    group, in a worker thread, and their Python work (a few times the query's) held the
    interpreter lock against the event loop serving the calls."""
    dialect = engine.dialect.name
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        found: dict[str, dict[str, int]] = {}
        for tenant_id, ids in wanted.items():
            if ids:
                cursor.execute(_SEEN[dialect], _seen_parameters(dialect, tenant_id, ids, now))
                found[tenant_id] = {m: s for m, s in cursor.fetchall()}
        cursor.close()
        return found
    finally:
        raw.close()  # back to the pool (rolled back: nothing was written)


class SqlMessageIds(MessageIds):
    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, tenant_id: str, message_ids: Collection[str], now: datetime) -> dict[str, int]:
        if not message_ids:
            return {}
        connection = self.session.connection()
        dialect = connection.dialect.name
        rows = connection.exec_driver_sql(
            _SEEN[dialect], _seen_parameters(dialect, tenant_id, message_ids, now)
        )
        return {m: s for m, s in rows}

    def remember(
        self, tenant_id: str, accepted: Mapping[str, int], now: datetime, expire_time: datetime
    ) -> dict[str, int]:
        if not accepted:
            return {}
        connection = self.session.connection()
        dialect = connection.dialect.name
        ordered = sorted(accepted.items())  # one lock order: batches never deadlock
        rows: tuple[object, ...]
        if dialect == "sqlite":
            rows = (json.dumps(dict(ordered)),)
        else:
            rows = ([m for m, _ in ordered], [s for _, s in ordered])
        written = connection.exec_driver_sql(
            _REMEMBER[dialect],
            (tenant_id, driver_time(expire_time, dialect), *rows, driver_time(now, dialect)),
        )
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
