"""Business facts, service layer: stock levels in, back-in-stock out, and the CEL view.

`record_stock_levels` runs in a unit of work (the facts consumer's batch, or SetFacts);
`StoreFacts` is what `facts.stock(product, store)` reads during one evaluation, inside
the caller's unit of work (an index seek per call, no cache to invalidate).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.orchestrator import mapping
from services.orchestrator.domain.facts import StockFact, back_in_stock
from services.orchestrator.ports import OrchestratorUnitOfWork


@dataclass(frozen=True)
class StockApplied:
    applied: int  # levels newer than those held
    released: int  # people told the product is back (BackInStock events)


def record_stock_levels(uow: OrchestratorUnitOfWork, levels: Iterable[StockFact]) -> StockApplied:
    """Keeps each level newer than the one held; a product back in stock at a store
    publishes BackInStock for each person suppressed for it, once (they are released)."""
    applied = released = 0
    for fact in levels:
        held = uow.facts.stock(fact.tenant_id, fact.product, fact.store)
        if not fact.newer_than(held):
            continue
        uow.facts.put_stock(fact)
        applied += 1
        if back_in_stock(held, fact):
            for waiter in uow.facts.pop_waiters(fact.tenant_id, fact.product, fact.store):
                uow.publish(mapping.back_in_stock_message(waiter, fact))
                released += 1
    return StockApplied(applied, released)


class StoreFacts:
    """`facts.*` of CEL for one tenant, read in the caller's unit of work (rules.Facts)."""

    def __init__(self, uow: OrchestratorUnitOfWork, tenant_id: str) -> None:
        self.uow = uow
        self.tenant_id = tenant_id

    def stock(self, product: str, store: str) -> int:
        fact = self.uow.facts.stock(self.tenant_id, product, store)
        return fact.units if fact is not None else 0
