"""gRPC edge of the identity service: proto in, handler call, proto out."""

from __future__ import annotations

import grpc

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers, mapping
from services.kernel.errors import Violations
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer
from services.kernel.store.database import Database


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.GetProfileResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        bad = Violations()
        bad.require_tenant(tenant)
        bad.require(request.profile_ref, "profile_ref")
        bad.raise_if_any()
        profile = await self.db.read(lambda s: handlers.get_profile(s, tenant, request.profile_ref))
        return pb.GetProfileResponse(profile=mapping.profile_proto(profile))


def identity_servicer(db: Database) -> Servicer:
    return Servicer(
        pb_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(db),
        pb.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
