"""DecisionService: proto in, a handler call, proto out; errors map in the interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decision_service_pb2_grpc as pb_grpc
from services.decision import handlers, mapping
from services.decision.api.catalog import CatalogRpcs
from services.decision.api.decisions import DecisionRpcs
from services.decision.api.models import ModelRpcs
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.rpc import calls
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer

Context = grpc.aio.ServicerContext[object, object]


class DecisionServicer(pb_grpc.DecisionServiceServicer):
    def __init__(
        self,
        layer: ServiceLayer[SqlDecisionUnitOfWork],
        models: ModelRpcs,
        decisions: DecisionRpcs,
    ) -> None:
        self.layer = layer
        self.models = models
        self.decisions = decisions
        self.catalog = CatalogRpcs(layer)

    async def GetFeatures(
        self, request: pb.GetFeaturesRequest, context: Context
    ) -> pb.GetFeaturesResponse:
        tenant = calls.tenant_of(request.tenant_id)  # the signed principal's, never the body's
        found = await self.layer.read(handlers.get_features, tenant, request.profile_id)
        return pb.GetFeaturesResponse(features=mapping.feature_vector_proto(found))

    async def RegisterModel(
        self, request_iterator: AsyncIterator[pb.RegisterModelRequest], context: Context
    ) -> pb.RegisterModelResponse:
        return await self.models.register(request_iterator)

    async def PromoteModel(
        self, request: pb.PromoteModelRequest, context: Context
    ) -> pb.PromoteModelResponse:
        return await self.models.promote(request)

    async def ApproveModelChange(
        self, request: pb.ApproveModelChangeRequest, context: Context
    ) -> pb.ApproveModelChangeResponse:
        return await self.models.approve(request)

    async def PublishModelChange(
        self, request: pb.PublishModelChangeRequest, context: Context
    ) -> pb.PublishModelChangeResponse:
        return await self.models.publish(request)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        return await self.models.list(request)

    async def ScoreProfile(
        self, request: pb.ScoreProfileRequest, context: Context
    ) -> pb.ScoreProfileResponse:
        return await self.models.score(request)

    async def Decide(self, request: pb.DecideRequest, context: Context) -> pb.DecideResponse:
        return await self.decisions.decide(request)

    async def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: Context
    ) -> pb.RecordOutcomeResponse:
        return await self.decisions.record_outcome(request)

    async def ApplyCatalog(
        self, request: pb.ApplyCatalogRequest, context: Context
    ) -> pb.ApplyCatalogResponse:
        return await self.catalog.apply(request)

    async def ListOffers(
        self, request: pb.ListOffersRequest, context: Context
    ) -> pb.ListOffersResponse:
        return await self.catalog.list_offers(request)

    async def GetOffer(self, request: pb.GetOfferRequest, context: Context) -> pb.GetOfferResponse:
        return await self.catalog.get_offer(request)

    async def TransitionCatalogAsset(
        self, request: pb.TransitionCatalogAssetRequest, context: Context
    ) -> pb.TransitionCatalogAssetResponse:
        return await self.catalog.transition(request)


def decision_servicer(
    layer: ServiceLayer[SqlDecisionUnitOfWork], models: ModelRpcs, decisions: DecisionRpcs
) -> Servicer:
    return Servicer(
        pb_grpc.add_DecisionServiceServicer_to_server,
        DecisionServicer(layer, models, decisions),
        pb.DESCRIPTOR.services_by_name["DecisionService"].full_name,
    )
