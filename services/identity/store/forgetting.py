"""Forgetting on SQLAlchemy: the suppression list, which raw messages fed which profile,
the queue of messages to erase from `INGEST`, and the messages suppressed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from services.identity.domain.profile import stream_id
from services.identity.ports import Forgetting, Rewrite
from services.identity.store.tables import (
    forgotten_identifiers,
    ingest_erasures,
    profile_messages,
    suppressed_messages,
)
from services.kernel.store.conflicts import DriverInsert, insert_unless_conflict
from services.kernel.store.schema import events, outbox


class SqlForgetting(Forgetting):
    """Which message fed which profile is written behind (one statement per flush), and
    the suppression list is read for a whole batch's digests at once (`prefetch`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._messages: list[tuple[str, str, int]] = []
        self._checked: dict[tuple[str, str], bool] = {}  # (tenant, digest) -> forgotten

    def flush(self) -> None:
        """Writes the buffered `record_message` rows (through the driver: a row an event)."""
        rows, self._messages = self._messages, []
        if rows:
            dialect = self.session.get_bind().dialect.name
            _messages_writer(dialect).count(self.session.connection(), rows)

    def discard(self) -> None:
        self._messages.clear()
        self._checked.clear()

    def prefetch(self, tenant_id: str, digests: Sequence[str]) -> None:
        """Reads which of `digests` are suppressed, for the `suppressed` calls that follow in
        this transaction (forgetting a person commits in its own)."""
        todo = sorted({d for d in digests if (tenant_id, d) not in self._checked})
        if not todo:
            return
        found = set(self.session.execute(suppressed_query(tenant_id, todo)).scalars())
        self._checked |= {(tenant_id, d): d in found for d in todo}

    def _insert_new(self, table: Table, rows: list[dict[str, object]]) -> None:
        if rows:
            dialect = self.session.get_bind().dialect.name
            self.session.execute(insert_unless_conflict(table, dialect), rows)

    def suppressed(self, tenant_id: str, digests: Sequence[str]) -> bool:
        self.prefetch(tenant_id, digests)
        return any(self._checked[(tenant_id, d)] for d in digests)

    def record_message(self, tenant_id: str, profile_id: str, stream_sequence: int) -> None:
        self._messages.append((tenant_id, profile_id, stream_sequence))

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

    def scrub(self, tenant_id: str, profile_ids: Sequence[str], rewrite: Rewrite) -> int:
        e = events.c
        streams = [stream_id(p) for p in profile_ids]
        mine = (e.tenant_id == tenant_id) & e.stream_id.in_(streams)
        return self._rewrite(events, e.position, mine, rewrite) + self._rewrite(
            outbox, outbox.c.id, unrelayed(tenant_id, profile_ids), rewrite
        )

    def _rewrite(
        self, table: Table, key: Column[Any], where: ColumnElement[bool], rewrite: Rewrite
    ) -> int:
        stored = self.session.execute(select(key, table.c.type, table.c.payload).where(where))
        rows = [
            {"at": at, "new": new}
            for at, type_name, payload in stored
            if (new := rewrite(type_name, payload)) is not None
        ]
        if rows:
            changed = update(table).where(key == bindparam("at")).values(payload=bindparam("new"))
            self.session.execute(changed, rows)
        return len(rows)

    def pending_erasures(self, limit: int) -> list[int]:
        c = ingest_erasures.c
        query = select(c.stream_sequence).order_by(c.stream_sequence).limit(limit)
        return list(self.session.execute(query).scalars())

    def erased(self, sequences: Sequence[int]) -> None:
        c = ingest_erasures.c
        self.session.execute(delete(ingest_erasures).where(c.stream_sequence.in_(list(sequences))))


@cache
def _messages_writer(dialect: str) -> DriverInsert:
    columns = ("tenant_id", "profile_id", "stream_sequence")
    return DriverInsert(profile_messages, columns, dialect, unless_conflict=True)


def unrelayed(tenant_id: str, profile_ids: Sequence[str]) -> ColumnElement[bool]:
    """The profiles' outbox messages not relayed yet (a seek in the kernel's
    `ix_outbox_subject_ref`); tests read its plan."""
    o = outbox.c
    return (o.tenant_id == tenant_id) & o.subject_ref.in_(list(profile_ids))


def suppressed_query(tenant_id: str, digests: Sequence[str]) -> Select[Any]:
    """Which of `digests` are suppressed (a primary-key seek each); tests read its plan."""
    c = forgotten_identifiers.c
    return select(c.digest).where(c.tenant_id == tenant_id, c.digest.in_(list(digests)))
