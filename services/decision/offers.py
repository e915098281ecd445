"""Offers (the catalog's action assets) read back: a page of them by id, or one, each with
its lifecycle and its latest version's definition."""

from __future__ import annotations

from dataclasses import dataclass

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decisions_pb2
from services.decision.catalog import ACTION
from services.decision.ports import DecisionUnitOfWork
from services.kernel.assets.handlers import existing
from services.kernel.assets.repository import AssetRecord, record_of
from services.kernel.errors import InvalidArgument
from services.kernel.pagination import Page, page_request, paged
from services.kernel.protobuf import to_timestamp


@dataclass(frozen=True)
class Offer:
    """An action asset at a glance and its latest definition."""

    record: AssetRecord
    definition: decisions_pb2.ActionDefinition


def _offer(uow: DecisionUnitOfWork, tenant_id: str, action_id: str) -> Offer:
    asset = existing(uow.assets, tenant_id, ACTION.name, action_id)
    content = asset.get_version(asset.latest).content
    assert isinstance(content, decisions_pb2.ActionDefinition), "an action's content"
    return Offer(record_of(asset), content)


def list_offers(
    uow: DecisionUnitOfWork, tenant_id: str, page_size: int, page_token: str
) -> Page[Offer]:
    """A page of the tenant's offers by id: the assets read model's rows after the token's
    id (a seek of its primary key), then only the page's assets loaded."""
    after, limit = page_request(page_size, page_token)
    found = uow.assets.list(tenant_id, ACTION.name, after, limit + 1)
    page = paged(found, limit, lambda r: r.asset_id)
    return Page([_offer(uow, tenant_id, r.asset_id) for r in page.items], page.next_page_token)


def get_offer(uow: DecisionUnitOfWork, tenant_id: str, action_id: str) -> Offer:
    """One offer; NOT_FOUND for an action the tenant does not have."""
    if not action_id:
        raise InvalidArgument.field("action_id", "is required")
    return _offer(uow, tenant_id, action_id)


def offer_proto(offer: Offer) -> pb.Offer:
    r = offer.record
    return pb.Offer(
        action_id=r.asset_id,
        state=r.state,
        latest_version=r.latest_version,
        published_version=r.published_version,
        published_state=r.published_state,
        definition=offer.definition,
        display_name=r.display_name,
        owner=r.owner,
        tags=r.tags,
        update_time=to_timestamp(r.update_time),
    )
