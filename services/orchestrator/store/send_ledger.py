"""The send ledger on SQLAlchemy: one row per tenant and send id, sought by profile and time."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import insert_unless_conflict
from services.kernel.store.versioned import Row
from services.orchestrator.domain.frequency_caps import LedgerEntry, SendState
from services.orchestrator.ports import SendLedger
from services.orchestrator.store.tables import send_ledger


class SqlSendLedger(SendLedger):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, tenant_id: str, send_id: str) -> LedgerEntry | None:
        t = send_ledger
        stmt = select(t).where(t.c.tenant_id == tenant_id, t.c.send_id == send_id)
        row = self.session.execute(stmt).first()
        return None if row is None else entry_of(row._mapping)

    def record(self, entry: LedgerEntry) -> None:
        t = send_ledger
        where = (t.c.tenant_id == entry.tenant_id, t.c.send_id == entry.send_id)
        self.session.execute(delete(t).where(*where))
        values = asdict(entry) | {"state": entry.state.value}
        self.session.execute(insert_unless_conflict(t, self._dialect), values)

    def capping(self, tenant_id: str, profile_id: str, since: datetime) -> list[LedgerEntry]:
        t = send_ledger
        stmt = select(t).where(
            t.c.tenant_id == tenant_id,
            t.c.profile_id == profile_id,
            or_(t.c.time >= since, t.c.state == SendState.HELD.value),
        )
        return [entry_of(r._mapping) for r in self.session.execute(stmt)]

    def forget(self, tenant_id: str, profile_id: str) -> int:
        t = send_ledger
        stmt = delete(t).where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
        return len(self.session.execute(stmt.returning(t.c.send_id)).all())

    def move_profile(self, tenant_id: str, from_profile_id: str, to_profile_id: str) -> int:
        t = send_ledger
        stmt = (
            update(t)
            .where(t.c.tenant_id == tenant_id, t.c.profile_id == from_profile_id)
            .values(profile_id=to_profile_id)
        )
        return len(self.session.execute(stmt.returning(t.c.send_id)).all())

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name


def entry_of(m: Row) -> LedgerEntry:
    values = {k: m[k] for k in LedgerEntry.__dataclass_fields__}
    return LedgerEntry(**values | {"state": SendState(m["state"])})
