"""The identity service over gRPC, with a deadline on every call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from services.gateway.adapters.peers import Peer
from services.kernel.rpc.signing import InternalCalls

if TYPE_CHECKING:  # the async stub's type exists in the stubs only
    IdentityPeer = Peer[ipb_grpc.IdentityServiceAsyncStub]
else:
    IdentityPeer = Peer


class IdentityClient(IdentityPeer):
    """Identity, as the gateway asks it about profiles and audiences."""

    def __init__(self, addr: str, timeout: float, internal: InternalCalls) -> None:
        super().__init__(addr, timeout, internal, ipb_grpc.IdentityServiceStub)

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        return await self.call(lambda s: s.GetProfile, request)

    async def forget_profile(self, request: ipb.ForgetProfileRequest) -> ipb.ForgetProfileResponse:
        return await self.call(lambda s: s.ForgetProfile, request)
