"""GetSendSettings and UpdateSendSettings: a tenant's frequency caps and quiet hours.

Get needs `assets:read`; Update needs `assets:operate` (it changes what live journeys do),
is idempotent per `request_id`, and is recorded with the signed principal. Both act in the
principal's tenant only.
"""

from __future__ import annotations

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import send_settings_pb2 as ss
from services.kernel.assets.policy import authorize
from services.kernel.principals import Scope
from services.kernel.protobuf import to_timestamp
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork
from services.orchestrator.mapping import send_settings_of, send_settings_proto
from services.orchestrator.send_settings import (
    SendPolicies,
    StoredSettings,
    as_settings,
    effective_policy,
    stored_settings,
    update_send_settings,
)
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork


class SendSettingsRpcs:
    def __init__(
        self, layer: ServiceLayer[SqlOrchestratorUnitOfWork], policies: SendPolicies
    ) -> None:
        self.layer = layer
        self.policies = policies

    async def get(self, request: pb.GetSendSettingsRequest) -> pb.GetSendSettingsResponse:
        principal = calls.current_principal()
        tenant = calls.tenant_of(request.tenant_id)
        authorize(principal, tenant, Scope.ASSETS_READ, "reading send settings")
        stored = await self.layer.read(stored_settings, tenant)
        settings, effective = self._views(stored)
        response = pb.GetSendSettingsResponse(
            settings=settings, effective=effective, actor=stored.actor
        )
        if stored.update_time is not None:
            response.update_time.CopyFrom(to_timestamp(stored.update_time))
        return response

    async def update(self, request: pb.UpdateSendSettingsRequest) -> pb.UpdateSendSettingsResponse:
        principal = calls.current_principal()
        tenant = calls.tenant_of(request.tenant_id)
        authorize(principal, tenant, Scope.ASSETS_OPERATE, "changing send settings")
        settings = send_settings_of(request.settings)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> pb.UpdateSendSettingsResponse:
            stored = update_send_settings(uow, principal, settings, request.reason)
            uow.commit()
            own, effective = self._views(stored)
            return pb.UpdateSendSettingsResponse(settings=own, effective=effective)

        response = await self.layer.run(
            idempotency.once, key, request, pb.UpdateSendSettingsResponse, apply
        )
        self.policies.invalidate(tenant)  # the others: when the broadcast comes round
        return response

    def _views(self, stored: StoredSettings) -> tuple[ss.SendSettings, ss.SendSettings]:
        """The tenant's own settings, and what applies over the deployment's defaults."""
        effective = effective_policy(self.policies.defaults, stored.settings)
        return send_settings_proto(stored.settings), send_settings_proto(as_settings(effective))
