"""The decision service's Open Inference Protocol (KServe v2 gRPC) over gRPC, forwarded to
by the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layercake.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from services.gateway.adapters.peers import Peer
from services.kernel.rpc.signing import InternalCalls

if TYPE_CHECKING:  # the async stub's type exists in the stubs only
    InferencePeer = Peer[pb_grpc.GRPCInferenceServiceAsyncStub]
else:
    InferencePeer = Peer


class InferenceClient(InferencePeer):
    """Decision's inference service, each call signed for the principal the gateway admitted."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        super().__init__(addr, timeout, internal, pb_grpc.GRPCInferenceServiceStub)
