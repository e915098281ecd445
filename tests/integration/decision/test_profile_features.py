"""The decision service's features, from identity's events through JetStream to its RPC."""

from __future__ import annotations

import grpc
from nats.js import JetStreamContext

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import bootstrap, handlers
from services.decision.consumers.profiles import profiles_consumer
from services.decision.store.tables import metadata
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.config import ServiceSettings
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.protobuf import from_timestamp
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.decision.model_replicas import model_servicer
from tests.integration.harness import serving
from tests.integration.profile_projection import NOW, ProfileProjectionContract
from tests.profile_events import profile_updated


async def get(channel: grpc.aio.Channel, tenant_id: str, profile_id: str) -> pb.FeatureVector:
    stub = pb_grpc.DecisionServiceStub(channel)
    request = pb.GetFeaturesRequest(tenant_id=tenant_id, profile_id=profile_id)
    return (await stub.GetFeatures(request, timeout=5)).features


class TestFeatureProjection(ProfileProjectionContract):
    service = "decision"
    durable = "decision-profiles"
    metadata = metadata
    unit_of_work = SqlDecisionUnitOfWork

    def consumer(self) -> ConsumerSpec:
        return profiles_consumer()

    def build(self, settings: ServiceSettings) -> App:
        return bootstrap.build(settings)

    def servicer(self, layer: ServiceLayer) -> Servicer:
        return model_servicer(layer)

    def stored_version(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> int:
        return handlers.get_features(uow, tenant_id, profile_id).profile_version

    def stored_fields(self, uow: UnitOfWork, tenant_id: str, profile_id: str) -> dict[str, int]:
        return dict(handlers.get_features(uow, tenant_id, profile_id).field_versions)

    async def rpc_version(self, channel: grpc.aio.Channel, tenant_id: str, profile_id: str) -> int:
        return (await get(channel, tenant_id, profile_id)).profile_version

    async def test_features_are_those_of_the_newest_version(
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
            6,
            traits={"visits": 3, "basket_total": 42.5, "store_id": "s-12"},
            consent={"email_marketing": True, "sms_marketing": False},
            identifiers=[("cookie_id", "ck-81"), ("email", "0f" * 32)],
        )
        late = profile_updated(tenant, profile_id, 5, traits={"visits": 1})
        await self.deliver(js, service_db, uow, newest, late)
        async with serving(model_servicer(layer)) as channel:
            features = await get(channel, tenant, profile_id)
        assert (features.tenant_id, features.profile_id) == (tenant, profile_id)
        assert features.profile_version == 6
        assert dict(features.values) == {
            "trait_visits": 3.0,
            "trait_basket_total": 42.5,
            "consent_email_marketing": 1.0,
            "consent_sms_marketing": 0.0,
            "trait_count": 3.0,
            "identifier_count": 2.0,
        }
        assert dict(features.text_values) == {"trait_store_id": "s-12"}
        assert dict(features.bool_values) == {}
        assert from_timestamp(features.update_time) == NOW

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
                tenant, profile_id, 1, traits={"visits": 1}, identifiers=[("cookie_id", "c1")]
            ),
            profile_updated(
                tenant, profile_id, 3, traits={"plan": "gold"}, consent={"analytics": True}
            ),
            profile_updated(
                tenant, profile_id, 2, traits={"visits": 2}, consent={"analytics": False}
            ),
        )
        async with serving(model_servicer(layer)) as channel:
            features = await get(channel, tenant, profile_id)
        assert features.profile_version == 3
        assert dict(features.values) == {
            "trait_visits": 2.0,
            "consent_analytics": 1.0,
            "trait_count": 2.0,
            "identifier_count": 1.0,
        }
        assert dict(features.text_values) == {"trait_plan": "gold"}
