"""Audience and computed-trait RPCs: proto in, a segment handler, proto out.

A definition arrives as YAML (metadata among its keys) or protobuf JSON (metadata beside
it); its kind checks it inside the kernel's `edit_asset`, so an invalid one stores
nothing. Mutations are idempotent per `request_id`; every call acts in the signed tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from layercake.identity.v1 import audience_pb2, computed_traits_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from services.identity import segment_assets
from services.identity.domain.audience_content import (
    AUDIENCE,
    parse_json,
    read_audience,
    read_computed_traits,
)
from services.identity.domain.computed_trait_content import ASSET_ID, COMPUTED_TRAITS
from services.identity.ports import IdentityUnitOfWork
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets import Asset, AssetKind, AssetMetadata
from services.kernel.assets import mapping as asset_mapping
from services.kernel.errors import InvalidArgument
from services.kernel.protobuf import to_timestamp
from services.kernel.rpc import calls, idempotency
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork

Context = grpc.aio.ServicerContext[object, object]
M = TypeVar("M", bound=Message)
ApplyRequest = pb.ApplyAudienceRequest | pb.ApplyComputedTraitsRequest


def _definition(
    request: ApplyRequest, kind: AssetKind, read_yaml: Callable[[str], tuple[M, AssetMetadata]]
) -> tuple[Message, AssetMetadata]:
    source = request.WhichOneof("source")
    if source == "yaml":
        if request.HasField("metadata"):
            raise InvalidArgument.field("metadata", "belongs inside the YAML")
        return read_yaml(request.yaml)
    if source == "json":
        content = parse_json(request.json, kind.content_type())
        return content, asset_mapping.metadata_of(request.metadata)
    raise InvalidArgument.field("source", "give the definition as yaml or json")


class SegmentRpcs:
    """The servicer's audience and computed-trait RPCs."""

    layer: ServiceLayer[SqlIdentityUnitOfWork]

    async def _apply(
        self,
        request: ApplyRequest,
        kind: AssetKind,
        asset_id: str,
        content: Message,
        metadata: AssetMetadata,
        answer: Callable[[Asset, int], M],
        response_type: type[M],
    ) -> M:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> M:
            assert isinstance(uow, SqlIdentityUnitOfWork)
            asset, number = segment_assets.apply_segment_asset(
                uow, principal, kind, asset_id, content, metadata, request.reason
            )
            return answer(asset, number)

        return await self.layer.run(idempotency.once, key, request, response_type, apply)

    async def _transition(
        self,
        request: pb.TransitionAudienceRequest | pb.TransitionComputedTraitsRequest,
        kind: AssetKind,
        asset_id: str,
        response_type: type[M],
    ) -> M:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        action = asset_mapping.action_of(request.action)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> M:
            assert isinstance(uow, SqlIdentityUnitOfWork)
            asset, number = segment_assets.transition_segment_asset(
                uow, principal, kind, asset_id, action, request.reason, request.to_version
            )
            return response_type(version=asset_mapping.version_message(asset, number))

        return await self.layer.run(idempotency.once, key, request, response_type, apply)

    async def ApplyAudience(
        self, request: pb.ApplyAudienceRequest, context: Context
    ) -> pb.ApplyAudienceResponse:
        content, metadata = _definition(request, AUDIENCE, read_audience)
        assert isinstance(content, audience_pb2.Audience)
        return await self._apply(
            request,
            AUDIENCE,
            content.audience_id,
            content,
            metadata,
            lambda a, n: pb.ApplyAudienceResponse(
                version=asset_mapping.version_message(a, n), audience=_audience(a, n)
            ),
            pb.ApplyAudienceResponse,
        )

    async def TransitionAudience(
        self, request: pb.TransitionAudienceRequest, context: Context
    ) -> pb.TransitionAudienceResponse:
        return await self._transition(
            request, AUDIENCE, request.audience_id, pb.TransitionAudienceResponse
        )

    async def GetAudience(
        self, request: pb.GetAudienceRequest, context: Context
    ) -> pb.GetAudienceResponse:
        tenant = calls.tenant_of(request.tenant_id)

        def get(uow: IdentityUnitOfWork) -> pb.GetAudienceResponse:
            asset, number = segment_assets.get_segment_asset(
                uow, tenant, AUDIENCE, request.audience_id, request.version
            )
            return pb.GetAudienceResponse(
                version=asset_mapping.version_message(asset, number),
                audience=_audience(asset, number),
                size=uow.audience_members.size(tenant, request.audience_id),
            )

        return await self.layer.read(get)

    async def ListAudiences(
        self, request: pb.ListAudiencesRequest, context: Context
    ) -> pb.ListAudiencesResponse:
        tenant = calls.tenant_of(request.tenant_id)
        found = await self.layer.read(segment_assets.list_audiences, tenant)
        return pb.ListAudiencesResponse(
            audiences=[
                pb.AudienceSummary(
                    version=asset_mapping.version_message(s.asset, s.asset.latest), size=s.size
                )
                for s in found
            ]
        )

    async def ListAudienceMembers(
        self, request: pb.ListAudienceMembersRequest, context: Context
    ) -> pb.ListAudienceMembersResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            segment_assets.list_members,
            tenant,
            request.audience_id,
            request.page_size,
            request.page_token,
        )
        return pb.ListAudienceMembersResponse(
            members=[
                pb.AudienceMember(
                    profile_id=m.profile_id,
                    audience_version=m.audience_version,
                    enter_time=to_timestamp(m.enter_time),
                )
                for m in page.members
            ],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def ApplyComputedTraits(
        self, request: pb.ApplyComputedTraitsRequest, context: Context
    ) -> pb.ApplyComputedTraitsResponse:
        content, metadata = _definition(request, COMPUTED_TRAITS, read_computed_traits)
        return await self._apply(
            request,
            COMPUTED_TRAITS,
            ASSET_ID,
            content,
            metadata,
            lambda a, n: pb.ApplyComputedTraitsResponse(
                version=asset_mapping.version_message(a, n), computed_traits=_traits(a, n)
            ),
            pb.ApplyComputedTraitsResponse,
        )

    async def TransitionComputedTraits(
        self, request: pb.TransitionComputedTraitsRequest, context: Context
    ) -> pb.TransitionComputedTraitsResponse:
        return await self._transition(
            request, COMPUTED_TRAITS, ASSET_ID, pb.TransitionComputedTraitsResponse
        )

    async def GetComputedTraits(
        self, request: pb.GetComputedTraitsRequest, context: Context
    ) -> pb.GetComputedTraitsResponse:
        tenant = calls.tenant_of(request.tenant_id)
        asset, number = await self.layer.read(
            segment_assets.get_segment_asset, tenant, COMPUTED_TRAITS, ASSET_ID, request.version
        )
        return pb.GetComputedTraitsResponse(
            version=asset_mapping.version_message(asset, number),
            computed_traits=_traits(asset, number),
        )


def _audience(asset: Asset, number: int) -> audience_pb2.Audience:
    content = asset.get_version(number).content
    assert isinstance(content, audience_pb2.Audience)
    return content


def _traits(asset: Asset, number: int) -> computed_traits_pb2.ComputedTraits:
    content = asset.get_version(number).content
    assert isinstance(content, computed_traits_pb2.ComputedTraits)
    return content
