"""The decision service's Open Inference Protocol over gRPC, each call signed for the
admitted principal and bounded by the caller's remaining deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from layercake.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls

R = TypeVar("R", bound=Message)


class InferenceClient:
    """One channel to decision, opened on first use (inside the event loop) and reused."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        self.addr = addr
        self.timeout = timeout
        self.internal = internal
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.GRPCInferenceServiceAsyncStub | None = None

    async def forward(
        self,
        method: Callable[[pb_grpc.GRPCInferenceServiceAsyncStub], Callable[..., Awaitable[R]]],
        request: Message,
    ) -> R:
        """Decision's answer to `request` on the stub's `method`; its errors come back as
        the matching kernel errors."""
        if self._stub is None:
            self._channel = client.channel(self.addr, self.internal)
            self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        return await client.call(method(self._stub), request, self.timeout)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None
