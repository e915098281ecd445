"""The instances read model and the step counts on SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import upsert_statement
from services.orchestrator.repositories import InstanceRecord, InstanceRecords, StepCount
from services.orchestrator.store.tables import journey_instances, journey_step_counts

_KEY = ("tenant_id", "journey_id", "profile_id")
_REPLACED = tuple(c.name for c in journey_instances.c if c.name not in _KEY)
_COUNT_KEY = ("tenant_id", "journey_id", "journey_version", "step_id", "metric")


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
    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, record: InstanceRecord) -> None:
        connection = self.session.connection()
        stmt = upsert_statement(journey_instances, connection.dialect.name, _KEY, _REPLACED)
        connection.execute(stmt, dict(record.__dict__))

    def of_profile(self, tenant_id: str, profile_id: str) -> list[InstanceRecord]:
        t = journey_instances
        rows = self.session.execute(
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
            .order_by(t.c.journey_id)
        )
        return [InstanceRecord(**r._mapping) for r in rows]

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
        connection = self.session.connection()
        stmt = _add_counts(connection.dialect.name)
        rows = [
            {
                "tenant_id": tenant_id,
                "journey_id": journey_id,
                "journey_version": version,
                "step_id": step,
                "metric": metric,
                "count": n,
            }
            for (version, step, metric), n in sorted(counts.items())
        ]
        connection.execute(stmt, rows)

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
