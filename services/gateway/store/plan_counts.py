"""What tenants' tracking plans rejected and flagged, per event type, on SQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.gateway.domain.tracking_plan import PlanCount
from services.gateway.ports import PlanCounts
from services.gateway.store.tables import tracking_plan_counts as t


class SqlPlanCounts(PlanCounts):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, tenant_id: str, counts: Mapping[str, PlanCount], at: datetime) -> None:
        if not counts:
            return
        connection = self.session.connection()
        rows = [
            {
                "tenant_id": tenant_id,
                "event_type": name,
                "rejected": count.rejected,
                "flagged": count.flagged,
                "last_time": at,
            }
            for name, count in sorted(counts.items())  # one lock order: batches never deadlock
        ]
        connection.execute(_adding(connection.dialect.name), rows)

    def counts(self, tenant_id: str) -> dict[str, PlanCount]:
        rows = self.session.execute(
            select(t.c.event_type, t.c.rejected, t.c.flagged, t.c.last_time)
            .where(t.c.tenant_id == tenant_id)
            .order_by(t.c.event_type)
        )
        return {r.event_type: PlanCount(r.rejected, r.flagged, r.last_time) for r in rows}


def _adding(dialect: str) -> Insert:
    """Insert the counts, or add them to those held (one statement: replicas never lose
    each other's counts)."""
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}[dialect]
    stmt = module.insert(t)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[t.c.tenant_id, t.c.event_type],
        set_={
            "rejected": t.c.rejected + stmt.excluded.rejected,
            "flagged": t.c.flagged + stmt.excluded.flagged,
            "last_time": stmt.excluded.last_time,
        },
    )
