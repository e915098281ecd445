"""gRPC edge of the gateway: admit the caller, translate proto <-> handler call."""

from __future__ import annotations

from typing import Any

import grpc

from layercake.gateway.v1 import gateway_service_pb2 as pb
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from services.gateway import handlers
from services.gateway.api.auth import Gatekeeper
from services.gateway.domain import keys
from services.kernel.clock import Clock
from services.kernel.rpc import idempotency
from services.kernel.rpc.server import Servicer
from services.kernel.store.database import Database

Context = grpc.aio.ServicerContext[Any, Any]


class GatewayServicer(pb_grpc.GatewayServiceServicer):
    def __init__(
        self,
        gate: Gatekeeper,
        ingest_log: handlers.IngestLog,
        profiles: handlers.ProfileDirectory,
        clock: Clock,
        db: Database,
    ) -> None:
        self.gate = gate
        self.db = db
        self.ingest_log = ingest_log
        self.profiles = profiles
        self.clock = clock

    async def Ingest(self, request: pb.IngestRequest, context: Context) -> pb.IngestResponse:
        principal = await self.gate.admit(
            context.invocation_metadata() or (), keys.INGEST, cost=max(1, len(request.events))
        )
        key = idempotency.request_key(request.request_id, tenant_id=principal.tenant_id)

        async def ingest() -> pb.IngestResponse:
            published = await handlers.ingest(
                self.ingest_log, principal, request.events, self.clock.now()
            )
            return pb.IngestResponse(
                results=[
                    pb.IngestResult(
                        message_id=e.message_id, duplicate=p.duplicate, sequence=p.sequence
                    )
                    for e, p in zip(request.events, published, strict=True)
                ]
            )

        # Published events are deduplicated by message id, so the answer is recorded after.
        return await idempotency.once_async(
            self.db, self.clock, key, request, pb.IngestResponse, ingest
        )

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        principal = await self.gate.admit(context.invocation_metadata() or (), keys.PROFILES_READ)
        found = await handlers.get_profile(self.profiles, principal, request.profile_ref)
        return pb.GetProfileResponse(profile=found.profile)


def gateway_servicer(servicer: GatewayServicer) -> Servicer:
    return Servicer(
        pb_grpc.add_GatewayServiceServicer_to_server,
        servicer,
        pb.DESCRIPTOR.services_by_name["GatewayService"].full_name,
    )
