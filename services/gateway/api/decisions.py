"""DecisionsService: decisions, models and the catalog (offers and placements), admitted at
the door and forwarded to the decision service in the caller's tenant. A decision names its
person by any profile ref, which identity resolves first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dpb_grpc
from layercake.decision.v1 import models_pb2
from layercake.gateway.v1 import asset_pb2 as apb
from layercake.gateway.v1 import decisions_service_pb2 as pb
from layercake.gateway.v1 import decisions_service_pb2_grpc as pb_grpc
from services.gateway import handlers
from services.gateway.adapters.identity import IdentityClient
from services.gateway.adapters.peers import Peer
from services.gateway.api import decision_views as views
from services.gateway.api import lifecycle, scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs, required
from services.kernel.assets.lifecycle import Action
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["DecisionsService"]
if TYPE_CHECKING:  # the async stub's type exists in the stubs only
    DecisionClient = Peer[dpb_grpc.DecisionServiceAsyncStub]
else:
    DecisionClient = Peer

scopes.declare(
    SERVICE,
    {
        "Decide": Scope.DECISIONS,
        "RecordOutcome": Scope.DECISIONS,
        "RegisterModel": Scope.ASSETS_WRITE,
        "PromoteModel": Scope.ASSETS_WRITE,
        "ApproveModelChange": Scope.ASSETS_APPROVE,
        "PublishModelChange": Scope.ASSETS_OPERATE,
        "ListModels": Scope.ASSETS_READ,
        "ListOffers": Scope.ASSETS_READ,
        "GetOffer": Scope.ASSETS_READ,
        "ApplyCatalog": Scope.ASSETS_WRITE,
        **lifecycle.scope_rules("CatalogAsset"),
    },
)


async def _upload(
    requests: AsyncIterator[pb.RegisterModelRequest],
) -> AsyncIterator[dpb.RegisterModelRequest]:
    """The public upload stream as decision's, message by message (never held whole)."""
    async for request in requests:
        if request.WhichOneof("part") == "upload":
            yield dpb.RegisterModelRequest(upload=views.model_upload(request.upload))
        else:
            yield dpb.RegisterModelRequest(chunk=request.chunk)


class DecisionsServicer(PublicRpcs, pb_grpc.DecisionsServiceServicer):
    def __init__(
        self, gate: Gatekeeper, identity: IdentityClient, decision: DecisionClient
    ) -> None:
        super().__init__(gate)
        self.identity = identity
        self.decision = decision

    async def Decide(self, request: pb.DecideRequest, context: Context) -> pb.DecideResponse:
        caller = await self.admit(context)
        required(request, "profile_ref", "placement")
        found = await handlers.get_profile(self.identity, caller, request.profile_ref)
        profile_id = found.profile.profile_id
        decided = await self.decision.call(
            lambda s: s.Decide,
            dpb.DecideRequest(
                request_id=request.request_id,
                profile_id=profile_id,
                placement=request.placement,
                context=request.context,
                max_actions=request.max_actions,
                seed=request.seed,
            ),
        )
        return views.decide_response(decided, profile_id)

    async def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: Context
    ) -> pb.RecordOutcomeResponse:
        await self.admit(context)
        required(request, "decision_id", "action_id", "outcome")
        internal = dpb.RecordOutcomeRequest(
            request_id=request.request_id,
            decision_id=request.decision_id,
            action_id=request.action_id,
            outcome=views.internal_outcome(request.outcome),
        )
        if request.HasField("outcome_time"):
            internal.outcome_time.CopyFrom(request.outcome_time)
        found = await self.decision.call(lambda s: s.RecordOutcome, internal)
        return pb.RecordOutcomeResponse(recorded=found.recorded)

    async def RegisterModel(
        self, request_iterator: AsyncIterator[pb.RegisterModelRequest], context: Context
    ) -> pb.RegisterModelResponse:
        await self.admit(context)
        found = await self.decision.call(lambda s: s.RegisterModel, _upload(request_iterator))
        return pb.RegisterModelResponse(
            model=views.model(found.model, models_pb2.MODEL_STAGE_REGISTERED)
        )

    async def PromoteModel(
        self, request: pb.PromoteModelRequest, context: Context
    ) -> pb.PromoteModelResponse:
        await self.admit(context)
        required(request, "model_name", "version", "stage")
        found = await self.decision.call(
            lambda s: s.PromoteModel,
            dpb.PromoteModelRequest(
                request_id=request.request_id,
                model_name=request.model_name,
                version=request.version,
                stage=views.internal_stage(request.stage),
                challenger_share=request.challenger_share,
                reason=request.reason,
            ),
        )
        return pb.PromoteModelResponse(change=views.model_change(found.change))

    async def ApproveModelChange(
        self, request: pb.ApproveModelChangeRequest, context: Context
    ) -> pb.ApproveModelChangeResponse:
        await self.admit(context)
        required(request, "model_name")
        found = await self.decision.call(
            lambda s: s.ApproveModelChange,
            dpb.ApproveModelChangeRequest(
                request_id=request.request_id, model_name=request.model_name, reason=request.reason
            ),
        )
        return pb.ApproveModelChangeResponse(change=views.model_change(found.change))

    async def PublishModelChange(
        self, request: pb.PublishModelChangeRequest, context: Context
    ) -> pb.PublishModelChangeResponse:
        await self.admit(context)
        required(request, "model_name")
        found = await self.decision.call(
            lambda s: s.PublishModelChange,
            dpb.PublishModelChangeRequest(
                request_id=request.request_id, model_name=request.model_name, reason=request.reason
            ),
        )
        return pb.PublishModelChangeResponse(change=views.model_change(found.change))

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        await self.admit(context)
        found = await self.decision.call(
            lambda s: s.ListModels,
            dpb.ListModelsRequest(
                model_name=request.model_name,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return pb.ListModelsResponse(
            models=[views.model(m.model, m.stage) for m in found.models],
            next_page_token=found.next_page_token,
        )

    async def ListOffers(
        self, request: pb.ListOffersRequest, context: Context
    ) -> pb.ListOffersResponse:
        await self.admit(context)
        found = await self.decision.call(
            lambda s: s.ListOffers,
            dpb.ListOffersRequest(page_size=request.page_size, page_token=request.page_token),
        )
        return pb.ListOffersResponse(
            offers=[views.offer(o) for o in found.offers], next_page_token=found.next_page_token
        )

    async def GetOffer(self, request: pb.GetOfferRequest, context: Context) -> pb.GetOfferResponse:
        await self.admit(context)
        required(request, "action_id")
        found = await self.decision.call(
            lambda s: s.GetOffer, dpb.GetOfferRequest(action_id=request.action_id)
        )
        return pb.GetOfferResponse(offer=views.offer(found.offer))

    async def ApplyCatalog(
        self, request: pb.ApplyCatalogRequest, context: Context
    ) -> pb.ApplyCatalogResponse:
        await self.admit(context)
        required(request, "yaml")
        found = await self.decision.call(
            lambda s: s.ApplyCatalog,
            dpb.ApplyCatalogRequest(
                request_id=request.request_id, yaml=request.yaml, reason=request.reason
            ),
        )
        return pb.ApplyCatalogResponse(versions=[views.catalog_version(v) for v in found.versions])

    async def SubmitCatalogAsset(
        self, request: pb.SubmitCatalogAssetRequest, context: Context
    ) -> pb.SubmitCatalogAssetResponse:
        await self.admit(context)
        return pb.SubmitCatalogAssetResponse(version=await self._move(Action.SUBMIT, request))

    async def ApproveCatalogAsset(
        self, request: pb.ApproveCatalogAssetRequest, context: Context
    ) -> pb.ApproveCatalogAssetResponse:
        await self.admit(context)
        return pb.ApproveCatalogAssetResponse(version=await self._move(Action.APPROVE, request))

    async def RejectCatalogAsset(
        self, request: pb.RejectCatalogAssetRequest, context: Context
    ) -> pb.RejectCatalogAssetResponse:
        await self.admit(context)
        return pb.RejectCatalogAssetResponse(version=await self._move(Action.REJECT, request))

    async def PublishCatalogAsset(
        self, request: pb.PublishCatalogAssetRequest, context: Context
    ) -> pb.PublishCatalogAssetResponse:
        await self.admit(context)
        return pb.PublishCatalogAssetResponse(version=await self._move(Action.PUBLISH, request))

    async def PauseCatalogAsset(
        self, request: pb.PauseCatalogAssetRequest, context: Context
    ) -> pb.PauseCatalogAssetResponse:
        await self.admit(context)
        return pb.PauseCatalogAssetResponse(version=await self._move(Action.PAUSE, request))

    async def ResumeCatalogAsset(
        self, request: pb.ResumeCatalogAssetRequest, context: Context
    ) -> pb.ResumeCatalogAssetResponse:
        await self.admit(context)
        return pb.ResumeCatalogAssetResponse(version=await self._move(Action.RESUME, request))

    async def ArchiveCatalogAsset(
        self, request: pb.ArchiveCatalogAssetRequest, context: Context
    ) -> pb.ArchiveCatalogAssetResponse:
        await self.admit(context)
        return pb.ArchiveCatalogAssetResponse(version=await self._move(Action.ARCHIVE, request))

    async def RollbackCatalogAsset(
        self, request: pb.RollbackCatalogAssetRequest, context: Context
    ) -> pb.RollbackCatalogAssetResponse:
        await self.admit(context)
        return pb.RollbackCatalogAssetResponse(version=await self._move(Action.ROLLBACK, request))

    async def _move(self, action: Action, request: Any) -> apb.AssetVersion:
        """One lifecycle action on an action (offer) or placement."""
        to_version = lifecycle.checked_move(request, action, "kind", "asset_id")
        found = await self.decision.call(
            lambda s: s.TransitionCatalogAsset,
            dpb.TransitionCatalogAssetRequest(
                request_id=request.request_id,
                kind=request.kind,
                asset_id=request.asset_id,
                action=action.value,
                reason=request.reason,
                to_version=to_version,
            ),
        )
        return views.catalog_version(found.version)


def decisions_servicer(
    gate: Gatekeeper, identity: IdentityClient, decision: DecisionClient
) -> Servicer:
    return Servicer(
        pb_grpc.add_DecisionsServiceServicer_to_server,
        DecisionsServicer(gate, identity, decision),
        SERVICE.full_name,
    )
