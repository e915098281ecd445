"""The identity service over gRPC, with a deadline on every call."""

from __future__ import annotations

import grpc

from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls


class IdentityClient:
    """One channel to identity, opened on first use (inside the event loop) and reused;
    each call signed for the principal the gateway admitted."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        self.addr = addr
        self.timeout = timeout
        self.internal = internal
        self._channel: grpc.aio.Channel | None = None
        self._stub: ipb_grpc.IdentityServiceAsyncStub | None = None

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        """Identity's answer; its errors come back as the matching kernel errors."""
        return await client.call(self._identity().GetProfile, request, self.timeout)

    async def forget_profile(self, request: ipb.ForgetProfileRequest) -> ipb.ForgetProfileResponse:
        return await client.call(self._identity().ForgetProfile, request, self.timeout)

    def _identity(self) -> ipb_grpc.IdentityServiceAsyncStub:
        if self._stub is None:
            self._channel = client.channel(self.addr, self.internal)
            self._stub = ipb_grpc.IdentityServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None
