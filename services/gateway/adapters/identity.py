"""The identity service over gRPC, with a deadline on every call."""

from __future__ import annotations

from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from services.gateway.adapters.peer import Peer
from services.kernel.rpc.signing import InternalCalls


class IdentityClient(Peer["ipb_grpc.IdentityServiceAsyncStub"]):
    """Identity, each call signed for the principal the gateway admitted."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        super().__init__(addr, timeout, internal, ipb_grpc.IdentityServiceStub)

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        """Identity's answer; its errors come back as the matching kernel errors."""
        return await self.call(lambda s: s.GetProfile, request)

    async def forget_profile(self, request: ipb.ForgetProfileRequest) -> ipb.ForgetProfileResponse:
        return await self.call(lambda s: s.ForgetProfile, request)
