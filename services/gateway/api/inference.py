"""The Open Inference Protocol (KServe v2 gRPC) on the gateway's port: the caller's API
key (`authorization: Bearer <key>`, scope `models:infer`) admits each call, which is then
forwarded to the decision service, signed for the key's principal, so Triton's and
KServe's clients reach the tenant's registered models and no other tenant's."""

from __future__ import annotations

from typing import Any

import grpc

from layercake.inference import grpc_predict_v2_pb2 as pb
from layercake.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from services.gateway.adapters.inference import InferenceClient
from services.gateway.api.auth import Gatekeeper
from services.kernel.errors import DeadlineExceeded, Unavailable
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

Context = grpc.aio.ServicerContext[Any, Any]


class InferenceGateway(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, gate: Gatekeeper, decision: InferenceClient) -> None:
        self.gate = gate
        self.decision = decision

    async def _admit(self, context: Context) -> None:
        await self.gate.admit(context.invocation_metadata() or (), Scope.MODELS_INFER)

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        await self._admit(context)
        return pb.ServerLiveResponse(live=True)  # this gateway answers

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        """Ready when decision, which runs the models, answers ready in time."""
        await self._admit(context)
        try:
            return await self.decision.forward(lambda s: s.ServerReady, request)
        except (Unavailable, DeadlineExceeded):
            return pb.ServerReadyResponse(ready=False)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        await self._admit(context)
        return await self.decision.forward(lambda s: s.ServerMetadata, request)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        await self._admit(context)
        return await self.decision.forward(lambda s: s.ModelReady, request)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        await self._admit(context)
        return await self.decision.forward(lambda s: s.ModelMetadata, request)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        await self._admit(context)
        return await self.decision.forward(lambda s: s.ModelInfer, request)


def inference_servicer(gate: Gatekeeper, decision: InferenceClient) -> Servicer:
    return Servicer(
        pb_grpc.add_GRPCInferenceServiceServicer_to_server,
        InferenceGateway(gate, decision),
        pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
    )
