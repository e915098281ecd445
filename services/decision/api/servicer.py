"""DecisionService: proto in, a handler call, proto out; errors map in the interceptor."""

from __future__ import annotations

import grpc

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import handlers, mapping
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer


class DecisionServicer(pb_grpc.DecisionServiceServicer):
    def __init__(self, layer: ServiceLayer) -> None:
        self.layer = layer

    async def GetFeatures(
        self,
        request: pb.GetFeaturesRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.GetFeaturesResponse:
        found = await self.layer.read(handlers.get_features, request.tenant_id, request.profile_id)
        return pb.GetFeaturesResponse(features=mapping.feature_vector_proto(found))


def decision_servicer(layer: ServiceLayer) -> Servicer:
    return Servicer(
        pb_grpc.add_DecisionServiceServicer_to_server,
        DecisionServicer(layer),
        pb.DESCRIPTOR.services_by_name["DecisionService"].full_name,
    )
