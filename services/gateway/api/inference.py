"""The Open Inference Protocol (KServe v2 gRPC) on the gateway's port: the caller's API
key (`authorization: Bearer <key>`, scope `models:infer`) admits each call, which is then
forwarded to the decision service, signed for the key's principal, so Triton's and
KServe's clients reach the tenant's registered models and no other tenant's."""

from __future__ import annotations

from layercake.inference import grpc_predict_v2_pb2 as pb
from layercake.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from services.gateway.adapters.inference import InferenceClient
from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs
from services.kernel.errors import DeadlineExceeded, Unavailable
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]

scopes.declare(SERVICE, {m.name: Scope.MODELS_INFER for m in SERVICE.methods})


class InferenceGateway(PublicRpcs, pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, gate: Gatekeeper, decision: InferenceClient) -> None:
        super().__init__(gate)
        self.decision = decision

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        await self.admit(context)
        return pb.ServerLiveResponse(live=True)  # this gateway answers

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        """Ready when decision, which runs the models, answers ready in time."""
        await self.admit(context)
        try:
            return await self.decision.call(lambda s: s.ServerReady, request)
        except (Unavailable, DeadlineExceeded):
            return pb.ServerReadyResponse(ready=False)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        await self.admit(context)
        return await self.decision.call(lambda s: s.ServerMetadata, request)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        await self.admit(context)
        return await self.decision.call(lambda s: s.ModelReady, request)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        await self.admit(context)
        return await self.decision.call(lambda s: s.ModelMetadata, request)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        await self.admit(context)
        return await self.decision.call(lambda s: s.ModelInfer, request)


def inference_servicer(gate: Gatekeeper, decision: InferenceClient) -> Servicer:
    return Servicer(
        pb_grpc.add_GRPCInferenceServiceServicer_to_server,
        InferenceGateway(gate, decision),
        SERVICE.full_name,
    )
