"""SetFacts and GetFacts: a tenant's business facts over gRPC, beside the NATS subjects.

SetFacts needs the `facts:write` scope and is idempotent per `request_id`; GetFacts needs
`assets:read`. Both act in the signed principal's tenant only.
"""

from __future__ import annotations

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from services.kernel.assets.policy import authorize
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Scope
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator import facts, mapping
from services.orchestrator.domain.facts import StockFact
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

MAX_LEVELS = 1000


class FactsRpcs:
    def __init__(self, layer: ServiceLayer[SqlOrchestratorUnitOfWork]) -> None:
        self.layer = layer

    async def set(self, request: pb.SetFactsRequest) -> pb.SetFactsResponse:
        principal = calls.current_principal()
        tenant = calls.tenant_of(request.tenant_id)
        authorize(principal, tenant, Scope.FACTS_WRITE, "publishing facts")
        _bounded(len(request.stock_levels), "stock_levels")
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> pb.SetFactsResponse:
            assert isinstance(uow, OrchestratorUnitOfWork)
            levels = mapping.stock_facts(tenant, request.stock_levels, uow.now(), "stock_levels")
            done = facts.record_stock_levels(uow, levels)
            uow.commit()
            return pb.SetFactsResponse(
                applied_count=done.applied, back_in_stock_count=done.released
            )

        return await self.layer.run(idempotency.once, key, request, pb.SetFactsResponse, apply)

    async def get(self, request: pb.GetFactsRequest) -> pb.GetFactsResponse:
        principal = calls.current_principal()
        tenant = calls.tenant_of(request.tenant_id)
        authorize(principal, tenant, Scope.ASSETS_READ, "reading facts")
        _bounded(len(request.stock_keys), "stock_keys")
        keys = [(k.product, k.store) for k in request.stock_keys]

        def read(uow: SqlOrchestratorUnitOfWork) -> list[StockFact]:
            found = (uow.facts.stock(tenant, product, store) for product, store in keys)
            return [f for f in found if f is not None]

        held = await self.layer.read(read)
        return pb.GetFactsResponse(stock_levels=[mapping.stock_level_proto(f) for f in held])


def _bounded(count: int, field: str) -> None:
    if count > MAX_LEVELS:
        raise InvalidArgument.field(field, f"must hold at most {MAX_LEVELS}")
