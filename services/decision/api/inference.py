"""The Open Inference Protocol (KServe v2 gRPC, `inference.GRPCInferenceService`) on the
decision service, for the gateway to forward to: every registered model of the signed
principal's tenant, never another's."""

from __future__ import annotations

from importlib import metadata

import grpc

from layercake.inference import grpc_predict_v2_pb2 as pb
from layercake.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from services.decision.api.tensors import Tensor, decode_inputs, encode_outputs
from services.decision.domain.inference import (
    PLATFORM,
    TensorMeta,
    check_inputs,
    choose_outputs,
    served_inputs,
    served_outputs,
)
from services.decision.inference import InferenceModels
from services.kernel.errors import FailedPrecondition, InvalidArgument, Violations
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer

Context = grpc.aio.ServicerContext[object, object]
SERVER_NAME = "layercake"


def _tenant() -> str:
    return calls.current_principal().tenant_id


def _named(name: str, field: str) -> None:
    bad = Violations()
    bad.require(name, field)
    bad.raise_if_any()


def _tensor_metadata(meta: TensorMeta) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=meta.name, datatype=meta.datatype, shape=list(meta.shape)
    )


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, models: InferenceModels) -> None:
        self.models = models

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=True)  # serving: the live models loaded at start

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=metadata.version("layercake"))

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        """Ready once its session is loaded (loading it now); not ready when the version
        may not serve (no champion, retired); NOT_FOUND when it is not registered."""
        _named(request.name, "name")
        try:
            await self.models.runnable(_tenant(), request.name, request.version)
        except FailedPrecondition:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        _named(request.name, "name")
        model, versions = await self.models.describe(_tenant(), request.name, request.version)
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=versions,
            platform=PLATFORM,
            inputs=[_tensor_metadata(m) for m in served_inputs(model.signature)],
            outputs=[_tensor_metadata(m) for m in served_outputs(model.signature)],
        )

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        _named(request.model_name, "model_name")
        model = await self.models.runnable(_tenant(), request.model_name, request.model_version)
        inputs = decode_inputs(request)
        bad = check_inputs(model.signature, [t.meta for t in inputs])
        if bad:
            raise InvalidArgument(bad)
        outputs = choose_outputs(model.signature, [o.name for o in request.outputs])
        values = await self.models.run(model, {t.name: t.array for t in inputs}, outputs)
        response = pb.ModelInferResponse(
            model_name=request.model_name, model_version=model.version, id=request.id
        )
        encode_outputs(
            response,
            [Tensor(o.name, o.datatype, v) for o, v in zip(outputs, values, strict=True)],
            raw=bool(request.raw_input_contents),
        )
        return response


def inference_servicer(models: InferenceModels) -> Servicer:
    return Servicer(
        pb_grpc.add_GRPCInferenceServiceServicer_to_server,
        InferenceServicer(models),
        pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
    )
