"""The catalog RPCs of DecisionService: apply a placement and its actions, move them
through the asset lifecycle. Mutations are idempotent per `request_id`."""

from __future__ import annotations

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import catalog, handlers, offers
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.assets import Action, Asset
from services.kernel.errors import InvalidArgument
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer

KINDS = (catalog.ACTION.name, catalog.PLACEMENT.name)
MAX_YAML = 256 * 1024
ACTIONS = {a.value: a for a in Action if a != Action.EDIT}


def version_proto(asset: Asset) -> pb.CatalogAssetVersion:
    latest = asset.get_version(asset.latest)
    assert asset.kind is not None, "a saved asset has a kind"
    return pb.CatalogAssetVersion(
        kind=asset.kind.name,
        asset_id=asset.asset_id,
        version=latest.number,
        state=latest.state.value,
    )


class CatalogRpcs:
    def __init__(self, layer: ServiceLayer[SqlDecisionUnitOfWork]) -> None:
        self.layer = layer

    async def apply(self, request: pb.ApplyCatalogRequest) -> pb.ApplyCatalogResponse:
        calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        if len(request.yaml) > MAX_YAML:
            raise InvalidArgument.field("yaml", f"must be at most {MAX_YAML} characters")
        file = catalog.read_catalog(request.yaml)
        return await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.ApplyCatalogResponse,
            lambda uow: pb.ApplyCatalogResponse(
                versions=[
                    version_proto(a)
                    for a in handlers.apply_catalog(uow, principal, file, request.reason)
                ]
            ),
        )

    async def transition(
        self, request: pb.TransitionCatalogAssetRequest
    ) -> pb.TransitionCatalogAssetResponse:
        calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        if request.kind not in KINDS:
            raise InvalidArgument.field("kind", "must be action or placement")
        action = ACTIONS.get(request.action)
        if action is None:
            raise InvalidArgument.field("action", f"must be one of {', '.join(ACTIONS)}")
        return await self.layer.run(
            idempotency.once,
            idempotency.request_key(request.request_id),
            request,
            pb.TransitionCatalogAssetResponse,
            lambda uow: pb.TransitionCatalogAssetResponse(
                version=version_proto(
                    handlers.transition_catalog_asset(
                        uow,
                        principal,
                        request.kind,
                        request.asset_id,
                        action,
                        request.reason,
                        request.to_version,
                    )
                )
            ),
        )

    async def list_offers(self, request: pb.ListOffersRequest) -> pb.ListOffersResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            offers.list_offers, tenant, request.page_size, request.page_token
        )
        return pb.ListOffersResponse(
            offers=[offers.offer_proto(o) for o in page.items],
            next_page_token=page.next_page_token,
        )

    async def get_offer(self, request: pb.GetOfferRequest) -> pb.GetOfferResponse:
        tenant = calls.tenant_of(request.tenant_id)
        found = await self.layer.read(offers.get_offer, tenant, request.action_id)
        return pb.GetOfferResponse(offer=offers.offer_proto(found))
