"""Stubs of the real orchestrator servicer, signed for each person as the gateway signs."""

from __future__ import annotations

import grpc

from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.principals import Principal
from services.kernel.rpc.signing import SigningInterceptor
from tests.signing import INTERNAL


class People:
    """Stubs signed for each person, as the gateway signs the calls of a person's key."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.channels: list[grpc.aio.Channel] = []

    def __call__(self, person: Principal | None) -> pb_grpc.OrchestratorServiceStub:
        interceptors = [] if person is None else [SigningInterceptor(INTERNAL, lambda _: person)]
        channel = grpc.aio.insecure_channel(self.addr, interceptors=interceptors)
        self.channels.append(channel)
        return pb_grpc.OrchestratorServiceStub(channel)
