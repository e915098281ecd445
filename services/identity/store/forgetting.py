"""Forgetting on SQLAlchemy: the suppression list, which raw messages fed which profile,
the queue of messages to erase from `INGEST`, and the messages suppressed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from services.identity.ports import Forgetting
from services.identity.store.tables import (
    forgotten_identifiers,
    ingest_erasures,
    profile_messages,
    suppressed_messages,
)
from services.kernel.store.conflicts import insert_unless_conflict


class SqlForgetting(Forgetting):
    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert_new(self, table: Table, rows: list[dict[str, object]]) -> None:
        if rows:
            dialect = self.session.get_bind().dialect.name
            self.session.execute(insert_unless_conflict(table, dialect), rows)

    def suppressed(self, tenant_id: str, digests: Sequence[str]) -> bool:
        c = forgotten_identifiers.c
        query = select(c.digest).where(c.tenant_id == tenant_id, c.digest.in_(list(digests)))
        return bool(digests) and self.session.execute(query.limit(1)).first() is not None

    def record_message(self, tenant_id: str, profile_id: str, stream_sequence: int) -> None:
        row = {"tenant_id": tenant_id, "profile_id": profile_id, "stream_sequence": stream_sequence}
        self._insert_new(profile_messages, [row])

    def suppress_message(self, tenant_id: str, message_id: str, reason: str, at: datetime) -> None:
        row = {"tenant_id": tenant_id, "message_id": message_id, "reason": reason}
        self._insert_new(suppressed_messages, [row | {"suppress_time": at}])

    def erase_message(self, tenant_id: str, stream_sequence: int, at: datetime) -> None:
        row = {"stream_sequence": stream_sequence, "tenant_id": tenant_id, "request_time": at}
        self._insert_new(ingest_erasures, [row])

    def erase_messages_of(self, tenant_id: str, profile_ids: Sequence[str], at: datetime) -> int:
        c = profile_messages.c
        which = (c.tenant_id == tenant_id) & c.profile_id.in_(list(profile_ids))
        sequences = sorted(
            set(self.session.execute(select(c.stream_sequence).where(which)).scalars())
        )
        rows = [
            {"stream_sequence": s, "tenant_id": tenant_id, "request_time": at} for s in sequences
        ]
        self._insert_new(ingest_erasures, rows)
        self.session.execute(delete(profile_messages).where(which))
        return len(sequences)

    def move_messages(self, tenant_id: str, old_sequence: int, new_sequence: int) -> None:
        c = profile_messages.c
        which = (c.tenant_id == tenant_id) & (c.stream_sequence == old_sequence)
        fed = self.session.execute(select(c.profile_id).where(which)).scalars()
        rows: list[dict[str, object]] = [
            {"tenant_id": tenant_id, "profile_id": p, "stream_sequence": new_sequence} for p in fed
        ]
        self._insert_new(profile_messages, rows)
        self.session.execute(delete(profile_messages).where(which))

    def pending_erasures(self, limit: int) -> list[int]:
        c = ingest_erasures.c
        query = select(c.stream_sequence).order_by(c.stream_sequence).limit(limit)
        return list(self.session.execute(query).scalars())

    def erased(self, sequences: Sequence[int]) -> None:
        c = ingest_erasures.c
        self.session.execute(delete(ingest_erasures).where(c.stream_sequence.in_(list(sequences))))
