"""gRPC edge of the identity service: proto in, a handler call, proto out; errors map in the
interceptor."""

from __future__ import annotations

import contextlib

import grpc
from nats.js import JetStreamContext

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import forgetting, handlers, ingest_log, mapping, rule_dry_run
from services.identity.api.segments import SegmentRpcs
from services.identity.ingest_eraser import IngestEraser
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.errors import Unavailable
from services.kernel.rpc import calls, idempotency
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer

Context = grpc.aio.ServicerContext[object, object]
PREVIEW_LIMIT = 200_000  # messages a rule preview replays at most


class IdentityServicer(SegmentRpcs, pb_grpc.IdentityServiceServicer):
    def __init__(
        self,
        layer: ServiceLayer[SqlIdentityUnitOfWork],
        eraser: IngestEraser | None = None,
        js: JetStreamContext | None = None,
    ) -> None:
        self.layer = layer
        self.eraser = eraser
        self.js = js

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        profile = await self.layer.read(handlers.get_profile, tenant, request.profile_ref)
        return pb.GetProfileResponse(profile=mapping.profile_proto(profile))

    async def ForgetProfile(
        self, request: pb.ForgetProfileRequest, context: Context
    ) -> pb.ForgetProfileResponse:
        calls.tenant_of(request.tenant_id)  # the signed principal's tenant, or refused
        principal = calls.current_principal()
        key = idempotency.request_key(request.request_id)

        def forget(uow: SqlIdentityUnitOfWork) -> pb.ForgetProfileResponse:
            def apply(_: object) -> pb.ForgetProfileResponse:
                found = forgetting.forget_profile(
                    uow, principal, request.profile_ref, request.request_id
                )
                return mapping.forgotten_proto(found)

            return idempotency.once(uow, key, request, pb.ForgetProfileResponse, apply)

        response = await self.layer.run(forget)
        if self.eraser is not None:  # now, not at the next pass; what fails waits for it
            with contextlib.suppress(Exception):
                await self.eraser.erase_pending()
        return response

    async def DryRunIdentifierRules(
        self, request: pb.DryRunIdentifierRulesRequest, context: Context
    ) -> pb.DryRunIdentifierRulesResponse:
        tenant = calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        if self.js is None:
            raise Unavailable("no INGEST stream to preview the rules on")
        messages = await ingest_log.tenant_messages(self.js, tenant, PREVIEW_LIMIT)
        preview = await self.layer.read(
            rule_dry_run.preview_rules, principal, request.version, messages
        )
        return mapping.rule_preview_proto(preview)


def identity_servicer(
    layer: ServiceLayer[SqlIdentityUnitOfWork],
    eraser: IngestEraser | None = None,
    js: JetStreamContext | None = None,
) -> Servicer:
    return Servicer(
        pb_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(layer, eraser, js),
        pb.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
