"""A service layer on the in-memory unit of work: async entrypoints' tests without a database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.decision.store.memory import DecisionState, InMemoryDecisionUnitOfWork
from services.kernel.store.memory import InMemoryDatabase


class MemoryLayer:
    """What `ServiceLayer` offers (`run`, `read`), on one in-memory database; counts reads."""

    def __init__(self, db: InMemoryDatabase[DecisionState]) -> None:
        self.db = db
        self.reads = 0

    async def run(self, handler: Callable[..., Any], *args: Any) -> Any:
        with InMemoryDecisionUnitOfWork(self.db) as uow:
            return handler(uow, *args)

    async def read(self, query: Callable[..., Any], *args: Any) -> Any:
        self.reads += 1
        with InMemoryDecisionUnitOfWork(self.db) as uow:
            return query(uow, *args)
