"""How async entrypoints (gRPC servicers) call the sync service layer.

Handlers are plain functions taking the service's unit-of-work port; each call gets
its own unit of work on the database pool, so the event loop never blocks on the
database and nothing is kept unless the handler commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, Generic, ParamSpec, Protocol, TypeVar

from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.unit_of_work import AbstractUnitOfWork

P = ParamSpec("P")
T = TypeVar("T")
W = TypeVar("W", bound=UnitOfWork)
U = TypeVar("U", bound=AbstractUnitOfWork, covariant=True)


class Layer(Protocol[U]):
    """What async code (servicers, async handlers doing I/O between transactions) runs sync
    handlers through: `ServiceLayer` on the database, `InMemoryLayer` on the fake."""

    async def run(
        self, handler: Callable[Concatenate[U, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def read(
        self, query: Callable[Concatenate[U, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...


@dataclass(frozen=True)
class ServiceLayer(Generic[W]):
    """Runs handlers for a servicer: `await layer.run(handlers.get_x, tenant_id, x_id)`."""

    db: Database
    uow: UnitOfWorkFactory[W]

    async def run(
        self, handler: Callable[Concatenate[W, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def work() -> T:
            with self.uow() as uow:
                return handler(uow, *args, **kwargs)

        return await self.db.run(work)

    async def read(
        self, query: Callable[Concatenate[W, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs a query handler in a read-only transaction (it never commits)."""

        def work() -> T:
            with self.uow.reader(self.db.read_sessions) as uow:
                return query(uow, *args, **kwargs)

        return await self.db.run(work)
