"""Snapshots of long aggregate streams: load the newest one and replay only the tail.

A snapshot is a cache of an aggregate's state at a version, one row per stream,
written in the same transaction as the append that crossed a multiple of
`LAYERCAKE_SNAPSHOT_EVERY`. It is never the truth: one that is missing, of an
older state shape (`StateCodec.version`) or unreadable is ignored and the stream
replayed in full, so snapshot + tail must always equal a full replay (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.store.schema import snapshots

A = TypeVar("A")
C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    version: int
    type: str
    schema_version: int
    state: bytes


class StateCodec(Protocol[A, C_contra]):
    """How one aggregate's state becomes bytes and back. `type` names the state, `version`
    its shape: bump it when the shape changes, and older snapshots are simply ignored.
    `C` is what the codec needs beside the state (identity: the profile's sealer)."""

    @property
    def type(self) -> str: ...

    @property
    def version(self) -> int: ...

    def dump(self, aggregate: A, context: C_contra) -> bytes: ...

    def load(self, state: bytes, version: int, context: C_contra) -> A | None:
        """The aggregate as of `version`; None when the state cannot be read."""
        ...


@dataclass(frozen=True)
class Resumed(Generic[A]):
    """Where loading a stream starts: a snapshot's aggregate (or None) and its version."""

    aggregate: A | None
    version: int


class Snapshots:
    """Reads and writes snapshots in the caller's session; `every` 0 turns writing off."""

    def __init__(self, session: Session, every: int) -> None:
        self.session = session
        self.every = every

    def due(self, before: int, after: int) -> bool:
        """Whether an append from `before` to `after` crossed a multiple of `every`."""
        return self.every > 0 and after // self.every > before // self.every

    def load(self, stream_id: str) -> Snapshot | None:
        row = self.session.execute(
            select(snapshots).where(snapshots.c.stream_id == stream_id)
        ).one_or_none()
        if row is None:
            return None
        return Snapshot(row.stream_id, row.version, row.type, row.schema_version, row.state)

    def save(self, snapshot: Snapshot, at: datetime) -> None:
        """Keeps the newest snapshot of each stream (an older one never replaces it)."""
        row = {
            "stream_id": snapshot.stream_id,
            "version": snapshot.version,
            "type": snapshot.type,
            "schema_version": snapshot.schema_version,
            "state": snapshot.state,
            "recorded_time": at,
        }
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(snapshots).values(row)
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[snapshots.c.stream_id],
                set_={c: stmt.excluded[c] for c in row if c != "stream_id"},
                where=snapshots.c.version < stmt.excluded.version,
            )
        )

    def resume(self, stream_id: str, codec: StateCodec[A, C], context: C) -> Resumed[A]:
        """The newest usable snapshot of the stream, or nothing (replay from version 0)."""
        return _resumed(self.load(stream_id), codec, context)

    def resume_many(
        self, contexts: Mapping[str, C], codec: StateCodec[A, C]
    ) -> dict[str, Resumed[A]]:
        """`resume` for each stream of `contexts` (stream id -> its context), one query."""
        rows = self.session.execute(snapshots_query(list(contexts)))
        found = {
            r.stream_id: Snapshot(r.stream_id, r.version, r.type, r.schema_version, r.state)
            for r in rows
        }
        return {s: _resumed(found.get(s), codec, c) for s, c in contexts.items()}

    def after_append(
        self,
        stream_id: str,
        before: int,
        after: int,
        aggregate: A,
        codec: StateCodec[A, C],
        context: C,
        at: datetime,
    ) -> bool:
        """Snapshots `aggregate` (as of `after`) when the append crossed a multiple of
        `every`; returns whether it did."""
        if not self.due(before, after):
            return False
        state = codec.dump(aggregate, context)
        self.save(Snapshot(stream_id, after, codec.type, codec.version, state), at)
        return True


def _resumed(found: Snapshot | None, codec: StateCodec[A, C], context: C) -> Resumed[A]:
    if found is None or (found.type, found.schema_version) != (codec.type, codec.version):
        return Resumed(None, 0)
    aggregate = codec.load(found.state, found.version, context)
    return Resumed(aggregate, found.version if aggregate is not None else 0)


def snapshots_query(stream_ids: list[str]) -> Select[Any]:
    """`resume_many`'s statement: a primary-key seek per stream."""
    return select(snapshots).where(snapshots.c.stream_id.in_(sorted(stream_ids)))
