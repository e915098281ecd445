"""Business facts on SQLAlchemy: stock levels by key, waiters taken by product and store."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.kernel.store.conflicts import insert_unless_conflict
from services.orchestrator.domain.facts import StockFact, StockWaiter
from services.orchestrator.ports import FactsRepository
from services.orchestrator.store.tables import stock_levels, stock_waiters


class SqlFacts(FactsRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def stock(self, tenant_id: str, product: str, store: str) -> StockFact | None:
        t = stock_levels
        stmt = select(t).where(
            t.c.tenant_id == tenant_id, t.c.product == product, t.c.store == store
        )
        row = self.session.execute(stmt).first()
        return None if row is None else StockFact(**row._mapping)

    def put_stock(self, fact: StockFact) -> None:
        t = stock_levels
        key = (
            t.c.tenant_id == fact.tenant_id,
            t.c.product == fact.product,
            t.c.store == fact.store,
        )
        self.session.execute(delete(t).where(*key))
        self.session.execute(insert_unless_conflict(t, self._dialect), asdict(fact))

    def add_waiter(self, waiter: StockWaiter) -> None:
        self.session.execute(insert_unless_conflict(stock_waiters, self._dialect), asdict(waiter))

    def forget_waiter(self, tenant_id: str, profile_id: str) -> int:
        t = stock_waiters
        stmt = delete(t).where(t.c.tenant_id == tenant_id, t.c.profile_id == profile_id)
        return len(self.session.execute(stmt.returning(t.c.send_id)).all())

    def pop_waiters(self, tenant_id: str, product: str, store: str) -> list[StockWaiter]:
        t = stock_waiters
        stmt = delete(t).where(
            t.c.tenant_id == tenant_id, t.c.product == product, t.c.store == store
        )
        rows = self.session.execute(stmt.returning(*t.c)).all()
        return sorted((StockWaiter(**r._mapping) for r in rows), key=lambda w: w.send_id)

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name
