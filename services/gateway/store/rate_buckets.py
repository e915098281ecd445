"""API keys' shared token buckets on SQL: one row per key, read for update (PostgreSQL row
lock; SQLite's `BEGIN IMMEDIATE` already serialises writers), written back by upsert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.gateway.domain.ratelimit import TokenBucket
from services.gateway.ports import RateBuckets
from services.gateway.store.tables import rate_buckets as t


class SqlRateBuckets(RateBuckets):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key_id: str, rate: float, burst: float, now: float) -> TokenBucket:
        query = select(t.c.tokens, t.c.update_time).where(t.c.key_id == key_id).with_for_update()
        row = self.session.execute(query).first()
        if row is None:
            return TokenBucket(rate, burst, burst, now)
        return TokenBucket(rate, burst, row.tokens, row.update_time)

    def save(self, key_id: str, bucket: TokenBucket) -> None:
        connection = self.session.connection()
        module: Any = {"postgresql": postgresql, "sqlite": sqlite}[connection.dialect.name]
        stmt = module.insert(t).values(
            key_id=key_id, tokens=bucket.tokens, update_time=bucket.updated
        )
        connection.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.key_id],
                set_={"tokens": stmt.excluded.tokens, "update_time": stmt.excluded.update_time},
            )
        )
