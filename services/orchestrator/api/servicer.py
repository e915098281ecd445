"""OrchestratorService: proto in, a handler call, proto out; errors map in the interceptor."""

from __future__ import annotations

import grpc

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer
from services.orchestrator import handlers, mapping
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork


class OrchestratorServicer(pb_grpc.OrchestratorServiceServicer):
    def __init__(self, layer: ServiceLayer[SqlOrchestratorUnitOfWork]) -> None:
        self.layer = layer

    async def GetContactState(
        self,
        request: pb.GetContactStateRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.GetContactStateResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        state = await self.layer.read(handlers.get_contact_state, tenant, request.profile_id)
        return pb.GetContactStateResponse(contact_state=mapping.contact_state_proto(state))


def orchestrator_servicer(layer: ServiceLayer[SqlOrchestratorUnitOfWork]) -> Servicer:
    return Servicer(
        pb_grpc.add_OrchestratorServiceServicer_to_server,
        OrchestratorServicer(layer),
        pb.DESCRIPTOR.services_by_name["OrchestratorService"].full_name,
    )
