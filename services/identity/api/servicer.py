"""gRPC edge of the identity service: proto in, a handler call, proto out; errors map in the
interceptor."""

from __future__ import annotations

import grpc

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers, mapping
from services.identity.api.segments import SegmentRpcs
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer

Context = grpc.aio.ServicerContext[object, object]


class IdentityServicer(SegmentRpcs, pb_grpc.IdentityServiceServicer):
    def __init__(self, layer: ServiceLayer[SqlIdentityUnitOfWork]) -> None:
        self.layer = layer

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        profile = await self.layer.read(handlers.get_profile, tenant, request.profile_ref)
        return pb.GetProfileResponse(profile=mapping.profile_proto(profile))


def identity_servicer(layer: ServiceLayer[SqlIdentityUnitOfWork]) -> Servicer:
    return Servicer(
        pb_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(layer),
        pb.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
