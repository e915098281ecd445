"""SendSettingsService: a tenant's frequency caps and quiet hours, forwarded to the
orchestrator, which validates them (naming `settings.<field>`, as in this API), records who
changed them and has every replica apply them to the next send."""

from __future__ import annotations

from layercake.gateway.v1 import send_settings_service_pb2 as pb
from layercake.gateway.v1 import send_settings_service_pb2_grpc as pb_grpc
from layercake.orchestrator.v1 import orchestrator_service_pb2 as opb
from layercake.orchestrator.v1 import send_settings_pb2 as ss
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs
from services.kernel.principals import Scope
from services.kernel.protobuf import as_twin
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["SendSettingsService"]
scopes.declare(
    SERVICE, {"GetSendSettings": Scope.ASSETS_READ, "UpdateSendSettings": Scope.ASSETS_OPERATE}
)


class SendSettingsServicer(PublicRpcs, pb_grpc.SendSettingsServiceServicer):
    def __init__(self, gate: Gatekeeper, orchestrator: OrchestratorClient) -> None:
        super().__init__(gate)
        self.orchestrator = orchestrator

    async def GetSendSettings(
        self, request: pb.GetSendSettingsRequest, context: Context
    ) -> pb.GetSendSettingsResponse:
        await self.admit(context)
        reply = await self.orchestrator.call(
            lambda s: s.GetSendSettings, opb.GetSendSettingsRequest()
        )
        return as_twin(reply, pb.GetSendSettingsResponse)

    async def UpdateSendSettings(
        self, request: pb.UpdateSendSettingsRequest, context: Context
    ) -> pb.UpdateSendSettingsResponse:
        await self.admit(context)
        reply = await self.orchestrator.call(
            lambda s: s.UpdateSendSettings,
            opb.UpdateSendSettingsRequest(
                settings=as_twin(request.settings, ss.SendSettings),
                reason=request.reason,
                request_id=request.request_id,
            ),
        )
        return as_twin(reply, pb.UpdateSendSettingsResponse)


def send_settings_servicer(gate: Gatekeeper, orchestrator: OrchestratorClient) -> Servicer:
    return Servicer(
        pb_grpc.add_SendSettingsServiceServicer_to_server,
        SendSettingsServicer(gate, orchestrator),
        SERVICE.full_name,
    )
