"""The orchestrator over gRPC: journeys, templates, runs and facts, forwarded by the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as opb_grpc
from services.gateway.adapters.peers import Peer
from services.kernel.rpc.signing import InternalCalls

if TYPE_CHECKING:  # the async stub's type exists in the stubs only
    OrchestratorStub = opb_grpc.OrchestratorServiceAsyncStub
    OrchestratorPeer = Peer[OrchestratorStub]
else:
    OrchestratorPeer = Peer


class OrchestratorClient(OrchestratorPeer):
    """The orchestrator, each call signed for the principal the gateway admitted."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        super().__init__(addr, timeout, internal, opb_grpc.OrchestratorServiceStub)
