"""The tenant's trait variables on SQLAlchemy: one row per tenant and variable, written once."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import insert_unless_conflict
from services.orchestrator.ports import TraitNames
from services.orchestrator.store.tables import trait_names

MAX_NAME = 200  # the column's; identity's trait names are shorter (128)


class SqlTraitNames(TraitNames):
    def __init__(self, session: Session) -> None:
        self.session = session

    def learn(self, tenant_id: str, names: Iterable[str]) -> None:
        rows = [{"tenant_id": tenant_id, "name": n} for n in sorted(set(names)) if n]
        rows = [r for r in rows if len(r["name"]) <= MAX_NAME]
        if rows:
            dialect = self.session.get_bind().dialect.name
            self.session.execute(insert_unless_conflict(trait_names, dialect), rows)

    def of_tenant(self, tenant_id: str) -> frozenset[str]:
        t = trait_names.c
        stmt = select(t.name).where(t.tenant_id == tenant_id)
        return frozenset(self.session.execute(stmt).scalars())
