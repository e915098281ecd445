"""FactsService: a tenant's business facts (stock levels), forwarded to the orchestrator."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from layercake.gateway.v1 import facts_service_pb2 as pb
from layercake.gateway.v1 import facts_service_pb2_grpc as pb_grpc
from layercake.orchestrator.v1 import facts_pb2 as ofacts
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs
from services.kernel.errors import InvalidArgument, Violations
from services.kernel.principals import Scope
from services.kernel.protobuf import as_twin, from_timestamp
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["FactsService"]
scopes.declare(SERVICE, {"SetFacts": Scope.FACTS_WRITE, "GetFacts": Scope.ASSETS_READ})


class FactsServicer(PublicRpcs, pb_grpc.FactsServiceServicer):
    """The orchestrator validates the levels (naming `stock_levels[i].<field>`, the same
    paths as in this API) and keeps only those newer than it holds."""

    def __init__(self, gate: Gatekeeper, orchestrator: OrchestratorClient) -> None:
        super().__init__(gate)
        self.orchestrator = orchestrator

    async def SetFacts(self, request: pb.SetFactsRequest, context: Context) -> pb.SetFactsResponse:
        await self.admit(context)
        bad = Violations()
        bad.require(request.stock_levels, "stock_levels")
        for i, level in enumerate(request.stock_levels):
            if level.HasField("observe_time") and not _in_range(level.observe_time):
                bad.add(f"stock_levels[{i}].observe_time", "is out of range")
        bad.raise_if_any()
        reply = await self.orchestrator.call(
            lambda s: s.SetFacts,
            opb.SetFactsRequest(
                stock_levels=[as_twin(level, ofacts.StockLevel) for level in request.stock_levels],
                request_id=request.request_id,
            ),
        )
        return pb.SetFactsResponse(
            applied_count=reply.applied_count, back_in_stock_count=reply.back_in_stock_count
        )

    async def GetFacts(self, request: pb.GetFactsRequest, context: Context) -> pb.GetFactsResponse:
        await self.admit(context)
        if not request.stock_keys:
            raise InvalidArgument.field("stock_keys", "is required")
        reply = await self.orchestrator.call(
            lambda s: s.GetFacts,
            opb.GetFactsRequest(
                stock_keys=[
                    opb.StockKey(product=k.product, store=k.store) for k in request.stock_keys
                ]
            ),
        )
        return pb.GetFactsResponse(
            stock_levels=[as_twin(level, pb.StockLevel) for level in reply.stock_levels]
        )


def _in_range(time: timestamp_pb2.Timestamp) -> bool:
    try:
        from_timestamp(time)
    except (ValueError, OverflowError):
        return False
    return True


def facts_servicer(gate: Gatekeeper, orchestrator: OrchestratorClient) -> Servicer:
    return Servicer(
        pb_grpc.add_FactsServiceServicer_to_server,
        FactsServicer(gate, orchestrator),
        SERVICE.full_name,
    )
