"""The instances read model and the step counts on SQLAlchemy, written behind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import DriverInsert
from services.orchestrator.repositories import InstanceRecord, InstanceRecords, StepCount
from services.orchestrator.store.tables import journey_instances, journey_step_counts

_KEY = ("tenant_id", "journey_id", "profile_id")
_COLUMNS = tuple(c.name for c in journey_instances.c)
_COUNT_KEY = ("tenant_id", "journey_id", "journey_version", "step_id", "metric")
_CHUNK = 500  # profiles a prefetch asks for per query


@cache
def _writer(dialect: str) -> DriverInsert:
    """The rows' upsert, straight through the driver: it runs for every batch of runs."""
    return DriverInsert(journey_instances, _COLUMNS, dialect, replace_on=_KEY)


def _row(writer: DriverInsert, r: InstanceRecord) -> tuple[Any, ...]:
    """The record in `_COLUMNS` order, its times as the driver takes them."""
    due = None if r.due_time is None else writer.time(r.due_time)
    return (
        r.tenant_id,
        r.journey_id,
        r.profile_id,
        r.journey_version,
        r.run,
        r.active,
        r.step_id,
        r.wait_reason,
        r.wait_event,
        due,
        writer.time(r.enter_time),
        r.exit_reason,
        r.stream_version,
    )


@cache
def _add_counts(dialect: str) -> Insert:
    """Insert a count, or add it to the stored one."""
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}[dialect]
    t = journey_step_counts
    stmt = module.insert(t)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[t.c[k] for k in _COUNT_KEY],
        set_={"count": t.c["count"] + stmt.excluded["count"]},
    )


class SqlInstanceRecords(InstanceRecords):
    """Rows and counts are written behind: a batch of runs costs one upsert of its rows and
    one of its counts at the unit of work's flush (before any read of the session, and at
    commit). The instances of the profiles it read are kept for the transaction (`prefetch`
    reads a batch's with one query); `forget` drops all of it when a block fails."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[tuple[str, str, str], InstanceRecord] = {}
        self._counts: Counter[tuple[str, str, int, str, str]] = Counter()
        self._of_profile: dict[tuple[str, str], dict[str, InstanceRecord]] = {}

    def put(self, record: InstanceRecord) -> None:
        self._rows[(record.tenant_id, record.journey_id, record.profile_id)] = record
        held = self._of_profile.get((record.tenant_id, record.profile_id))
        if held is not None:
            held[record.journey_id] = record

    def flush(self) -> None:
        """Writes the buffered rows, then the buffered counts, a statement each."""
        if not (self._rows or self._counts):
            return
        connection = self.session.connection()
        dialect = connection.dialect.name
        # each in key order, so concurrent writers lock the rows in the same order
        if self._rows:
            held, self._rows = self._rows, {}
            writer = _writer(dialect)
            writer.count(connection, [_row(writer, held[k]) for k in sorted(held)])
        if self._counts:
            counts, self._counts = self._counts, Counter()
            keyed = [
                dict(zip(_COUNT_KEY, k, strict=True)) | {"count": counts[k]} for k in sorted(counts)
            ]
            connection.execute(_add_counts(dialect), keyed)

    def forget(self) -> None:
        """Drops what was buffered and what was read (a failed block's work is gone)."""
        self._rows.clear()
        self._counts.clear()
        self._of_profile.clear()

    def prefetch(self, tenant_id: str, profile_ids: Sequence[str]) -> None:
        todo = sorted({p for p in profile_ids if (tenant_id, p) not in self._of_profile})
        t = journey_instances
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            found: dict[str, dict[str, InstanceRecord]] = {p: {} for p in chunk}
            rows = self.session.execute(
                select(t).where(t.c.tenant_id == tenant_id, t.c.profile_id.in_(chunk))
            )
            for row in rows:
                record = InstanceRecord(**row._mapping)
                found[record.profile_id][record.journey_id] = record
            self._of_profile |= {(tenant_id, p): held for p, held in found.items()}

    def of_profile(self, tenant_id: str, profile_id: str) -> list[InstanceRecord]:
        if (tenant_id, profile_id) not in self._of_profile:
            self.prefetch(tenant_id, [profile_id])
        held = self._of_profile[(tenant_id, profile_id)]
        return [held[j] for j in sorted(held)]

    def active_of(self, tenant_id: str, journey_id: str, version: int) -> list[InstanceRecord]:
        t = journey_instances
        rows = self.session.execute(
            select(t)
            .where(
                t.c.tenant_id == tenant_id,
                t.c.journey_id == journey_id,
                t.c.active.is_(True),
                t.c.journey_version == version,
            )
            .order_by(t.c.profile_id)
        )
        return [InstanceRecord(**r._mapping) for r in rows]

    def add_counts(
        self, tenant_id: str, journey_id: str, counts: Mapping[tuple[int, str, str], int]
    ) -> None:
        for (version, step, metric), n in counts.items():
            self._counts[(tenant_id, journey_id, version, step, metric)] += n

    def counts(self, tenant_id: str, journey_id: str) -> list[StepCount]:
        t = journey_step_counts
        rows = self.session.execute(
            select(t.c.journey_version, t.c.step_id, t.c.metric, t.c.count)
            .where(t.c.tenant_id == tenant_id, t.c.journey_id == journey_id)
            .order_by(t.c.journey_version, t.c.step_id, t.c.metric)
        )
        return [StepCount(*r) for r in rows]

    def waiting(self, tenant_id: str, journey_id: str) -> list[StepCount]:
        t = journey_instances
        rows = self.session.execute(
            select(t.c.journey_version, t.c.step_id, func.count())
            .where(
                t.c.tenant_id == tenant_id,
                t.c.journey_id == journey_id,
                t.c.active.is_(True),
                t.c.wait_reason != "",
            )
            .group_by(t.c.journey_version, t.c.step_id)
            .order_by(t.c.journey_version, t.c.step_id)
        )
        return [StepCount(v, s, "waiting", n) for v, s, n in rows]
