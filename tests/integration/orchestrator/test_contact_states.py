"""The orchestrator's contact states, from identity's events through JetStream to its RPC."""

from __future__ import annotations

from typing import Any

import grpc
from nats.js import JetStreamContext

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.config import ServiceSettings
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.protobuf import from_timestamp
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.orchestrator import bootstrap, handlers
from services.orchestrator.api.servicer import orchestrator_servicer
from services.orchestrator.bootstrap import journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.consumers.profiles import profiles_consumer
from services.orchestrator.store.tables import metadata
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import random_id
from tests.integration.harness import serving
from tests.integration.profile_projection import NOW, ProfileProjectionContract
from tests.orchestrator_fakes import FakeDirectory
from tests.profile_events import profile_updated


async def get(channel: grpc.aio.Channel, tenant_id: str, profile_id: str) -> pb.ContactState:
    stub = pb_grpc.OrchestratorServiceStub(channel)
    request = pb.GetContactStateRequest(tenant_id=tenant_id, profile_id=profile_id)
    return (await stub.GetContactState(request, timeout=5)).contact_state


class _NoDatabase:
    """A forget truncates the orchestrator's SQLite WAL: a no-op for this contract."""

    async def run(self, fn: Any, *args: Any) -> None:
        return None

    def truncate_wal(self) -> None:
        return None


class _NoLayer:
    """The layer is read for AudienceEntered and unmerges only, which this contract never
    sends; a forget only asks its database to truncate the WAL."""

    db = _NoDatabase()


NO_LAYER: Any = _NoLayer()


class TestContactStateProjection(ProfileProjectionContract):
    service = "orchestrator"
    durable = "orchestrator-profiles"
    metadata = metadata
    unit_of_work = SqlOrchestratorUnitOfWork

    def consumer(self) -> ConsumerSpec:
        return profiles_consumer(journey_engine(OrchestratorConfig()), FakeDirectory(), NO_LAYER)

    def build(self, settings: ServiceSettings) -> App:
        return bootstrap.build(settings)

    def servicer(self, layer: ServiceLayer) -> Servicer:
        return orchestrator_servicer(layer, journey_engine(OrchestratorConfig()), FakeDirectory())

    def stored_version(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> int:
        return handlers.get_contact_state(uow, tenant_id, profile_id).profile_version

    def stored_fields(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> dict[str, int]:
        return dict(handlers.get_contact_state(uow, tenant_id, profile_id).field_versions)

    async def rpc_version(self, channel: grpc.aio.Channel, tenant_id: str, profile_id: str) -> int:
        return (await get(channel, tenant_id, profile_id)).profile_version

    async def test_contact_state_keeps_consent_and_time_zone_of_the_newest_version(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant, profile_id = random_id("t"), random_id("p-")
        newest = profile_updated(
            tenant,
            profile_id,
            3,
            traits={"timezone": "America/Chicago", "store_id": "s-12"},
            consent={"email_marketing": True, "sms_marketing": False},
        )
        late = profile_updated(
            tenant,
            profile_id,
            2,
            traits={"timezone": "Europe/Paris"},
            consent={"email_marketing": False},
        )
        await self.deliver(js, service_db, uow, newest, late)
        async with serving(
            orchestrator_servicer(layer, journey_engine(OrchestratorConfig()), FakeDirectory())
        ) as channel:
            state = await get(channel, tenant, profile_id)
        assert (state.tenant_id, state.profile_id, state.profile_version) == (tenant, profile_id, 3)
        assert dict(state.consent) == {"email_marketing": True, "sms_marketing": False}
        assert state.time_zone == "America/Chicago"
        assert from_timestamp(state.update_time) == NOW

    async def test_changes_merge_per_field_whatever_the_delivery_order(
        self,
        js: JetStreamContext,
        service_db: Database,
        uow: UnitOfWorkFactory,
        layer: ServiceLayer,
    ) -> None:
        tenant, profile_id = random_id("t"), random_id("p-")
        await self.deliver(
            js,
            service_db,
            uow,
            profile_updated(
                tenant,
                profile_id,
                2,
                traits={"timezone": "America/Chicago"},
                consent={"email_marketing": True},
            ),
            profile_updated(tenant, profile_id, 4, consent={"sms_marketing": False}),
            profile_updated(  # late, but newer than version 2 for what it sets
                tenant,
                profile_id,
                3,
                traits={"timezone": "Europe/Paris"},
                consent={"email_marketing": False},
            ),
        )
        async with serving(
            orchestrator_servicer(layer, journey_engine(OrchestratorConfig()), FakeDirectory())
        ) as channel:
            state = await get(channel, tenant, profile_id)
        assert state.profile_version == 4
        assert dict(state.consent) == {"email_marketing": False, "sms_marketing": False}
        assert state.time_zone == "Europe/Paris"
