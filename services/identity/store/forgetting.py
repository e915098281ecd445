"""Forgetting on SQLAlchemy: the suppression list, the forgotten profiles, which stream
messages hold which profile's data, the queue of messages to erase, and the messages
suppressed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from services.identity.domain.profile import stream_id
from services.identity.ports import (
    DEADLETTER,
    INGEST,
    Forgetting,
    Published,
    Rewrite,
    StreamMessage,
    Sweep,
)
from services.identity.scrubbing import PERSONAL_EVENTS
from services.identity.store.tables import (
    dead_letter_sweeps,
    forgotten_identifiers,
    forgotten_profiles,
    profile_messages,
    profile_splits,
    stream_erasures,
    suppressed_messages,
)
from services.kernel.messaging.relay import Relayed
from services.kernel.store.conflicts import (
    DriverInsert,
    insert_unless_conflict,
    upsert_statement,
)
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

    def split_off(self, tenant_id: str, profile_ids: Sequence[str], to: str) -> None:
        c = profile_messages.c
        which = (c.tenant_id == tenant_id) & c.profile_id.in_(list(profile_ids))
        found = self.session.execute(select(c.stream, c.stream_sequence).where(which))
        rows: list[dict[str, object]] = [
            {"tenant_id": tenant_id, "profile_id": to, "stream": stream, "stream_sequence": seq}
            for stream, seq in found
        ]
        self._insert_new(profile_messages, rows)
        origins: list[dict[str, object]] = [
            {"tenant_id": tenant_id, "profile_id": to, "split_from": p} for p in profile_ids
        ]
        self._insert_new(profile_splits, origins)

    def split_from(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        c = profile_splits.c
        ids = sorted(set(profile_ids))
        query = select(c.split_from).where(c.tenant_id == tenant_id, c.profile_id.in_(ids))
        return set(self.session.execute(query).scalars())

    def forgotten_among(self, tenant_id: str, profile_ids: Sequence[str]) -> set[str]:
        c = forgotten_profiles.c
        ids = sorted(set(profile_ids))
        query = select(c.profile_id).where(c.tenant_id == tenant_id, c.profile_id.in_(ids))
        return set(self.session.execute(query).scalars()) if ids else set()

    def record_published(self, messages: Sequence[Published], at: datetime) -> None:
        forgotten: set[tuple[str, str]] = set()
        for tenant in sorted({m.tenant_id for m in messages}):
            ids = [m.profile_id for m in messages if m.tenant_id == tenant]
            forgotten |= {(tenant, p) for p in self.forgotten_among(tenant, ids)}
        rows: list[dict[str, object]] = []
        late: list[tuple[str, StreamMessage]] = []
        for m in messages:
            if (m.tenant_id, m.profile_id) in forgotten:
                late.append((m.tenant_id, StreamMessage(m.stream, m.sequence)))
            else:
                rows.append(
                    {"tenant_id": m.tenant_id, "profile_id": m.profile_id, "stream": m.stream,
                     "stream_sequence": m.sequence}
                )  # fmt: skip
        self._insert_new(profile_messages, rows)
        self._queue(late, at)

    def _queue(self, messages: Sequence[tuple[str, StreamMessage]], at: datetime) -> None:
        rows: list[dict[str, object]] = [
            {"stream": m.stream, "stream_sequence": m.sequence, "tenant_id": t, "request_time": at}
            for t, m in messages
        ]
        self._insert_new(stream_erasures, rows)

    def suppress_message(self, tenant_id: str, message_id: str, reason: str, at: datetime) -> None:
        row = {"tenant_id": tenant_id, "message_id": message_id, "reason": reason}
        self._insert_new(suppressed_messages, [row | {"suppress_time": at}])

    def sweep_dead_letters(self, tenant_id: str, at: datetime) -> None:
        dialect = self.session.get_bind().dialect.name
        upsert = upsert_statement(dead_letter_sweeps, dialect, ("tenant_id",), ("request_time",))
        self.session.execute(upsert, [{"tenant_id": tenant_id, "request_time": at}])

    def pending_sweeps(self, limit: int) -> list[Sweep]:
        c = dead_letter_sweeps.c
        query = select(c.tenant_id, c.request_time).order_by(c.tenant_id).limit(limit)
        return [Sweep(*row) for row in self.session.execute(query)]

    def swept(self, sweep: Sweep, sequences: Sequence[int], at: datetime) -> None:
        self._queue([(sweep.tenant_id, StreamMessage(DEADLETTER, s)) for s in sequences], at)
        c = dead_letter_sweeps.c
        done = (c.tenant_id == sweep.tenant_id) & (c.request_time == sweep.request_time)
        self.session.execute(delete(dead_letter_sweeps).where(done))

    def erase_message(self, tenant_id: str, stream_sequence: int, at: datetime) -> None:
        self._queue([(tenant_id, StreamMessage(INGEST, stream_sequence))], at)

    def erase_messages_of(self, tenant_id: str, profile_ids: Sequence[str], at: datetime) -> int:
        forgotten: list[dict[str, object]] = [
            {"tenant_id": tenant_id, "profile_id": p, "forget_time": at} for p in profile_ids
        ]
        self._insert_new(forgotten_profiles, forgotten)
        c = profile_messages.c
        which = (c.tenant_id == tenant_id) & c.profile_id.in_(list(profile_ids))
        found = self.session.execute(select(c.stream, c.stream_sequence).where(which))
        messages = sorted({StreamMessage(stream, sequence) for stream, sequence in found})
        self._queue([(tenant_id, m) for m in messages], at)
        self.session.execute(delete(profile_messages).where(which))
        return len(messages)

    def move_messages(self, tenant_id: str, old_sequence: int, new_sequence: int) -> None:
        c = profile_messages.c
        which = (
            (c.tenant_id == tenant_id) & (c.stream == INGEST) & (c.stream_sequence == old_sequence)
        )
        fed = self.session.execute(select(c.profile_id).where(which)).scalars()
        rows: list[dict[str, object]] = [
            {"tenant_id": tenant_id, "profile_id": p, "stream": INGEST,
             "stream_sequence": new_sequence}
            for p in fed
        ]  # fmt: skip
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
        # locked (PostgreSQL): a relay settling one of these waits for the forget to commit,
        # then finds the profile forgotten (record_published)
        query = select(key, table.c.type, table.c.payload).where(where).with_for_update()
        stored = self.session.execute(query)
        rows = [
            {"at": at, "new": new}
            for at, type_name, payload in stored
            if (new := rewrite(type_name, payload)) is not None
        ]
        if rows:
            changed = update(table).where(key == bindparam("at")).values(payload=bindparam("new"))
            self.session.execute(changed, rows)
        return len(rows)

    def pending_erasures(self, limit: int) -> list[StreamMessage]:
        c = stream_erasures.c
        query = select(c.stream, c.stream_sequence).order_by(c.stream, c.stream_sequence)
        return [StreamMessage(*row) for row in self.session.execute(query.limit(limit))]

    def erased(self, messages: Sequence[StreamMessage]) -> None:
        c = stream_erasures.c
        for stream in sorted({m.stream for m in messages}):
            sequences = [m.sequence for m in messages if m.stream == stream]
            which = (c.stream == stream) & c.stream_sequence.in_(sequences)
            self.session.execute(delete(stream_erasures).where(which))


def record_relayed(session: Session, relayed: Sequence[Relayed], at: datetime) -> None:
    """The outbox relay's hook: where each message about a person went (or, the person
    forgotten meanwhile, its erasure), in the transaction that settles the rows."""
    published = [
        Published(r.message.tenant_id, r.message.subject_ref, r.stream, r.sequence)
        for r in relayed
        if r.message.type in PERSONAL_EVENTS and r.message.subject_ref
    ]
    if published:
        SqlForgetting(session).record_published(published, at)


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
