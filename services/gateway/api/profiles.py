"""ProfilesService: profiles and audiences, admitted at the door and forwarded to identity
in the caller's tenant (the signed principal's; public requests name no tenant)."""

from __future__ import annotations

from typing import Any

from layercake.gateway.v1 import asset_pb2 as apb
from layercake.gateway.v1 import profiles_service_pb2 as pb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pb_grpc
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway import asset_mapping, handlers
from services.gateway.adapters.identity import IdentityClient
from services.gateway.api import lifecycle, scopes
from services.gateway.api import profile_views as views
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.public import Context, PublicRpcs, required
from services.kernel.assets.lifecycle import Action
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Scope
from services.kernel.rpc.server import Servicer

SERVICE = pb.DESCRIPTOR.services_by_name["ProfilesService"]
MAX_YAML = 256 * 1024

scopes.declare(
    SERVICE,
    {
        "GetProfile": Scope.PROFILES_READ,
        "ListProfileEvents": Scope.PROFILES_READ,
        "ListTraitHistory": Scope.PROFILES_READ,
        "SearchProfiles": Scope.PROFILES_READ,
        "UnmergeProfile": Scope.PROFILES_WRITE,
        "ForgetProfile": Scope.PROFILES_WRITE,
        "ApplyAudience": Scope.ASSETS_WRITE,
        **lifecycle.scope_rules("Audience"),
        "GetAudience": Scope.ASSETS_READ,
        "ListAudiences": Scope.ASSETS_READ,
        "ListAudienceMembers": Scope.PROFILES_READ,
        "ApplyComputedTraits": Scope.ASSETS_WRITE,
        **lifecycle.scope_rules("ComputedTraits"),
        "GetComputedTraits": Scope.ASSETS_READ,
    },
)


class ProfilesServicer(PublicRpcs, pb_grpc.ProfilesServiceServicer):
    def __init__(self, gate: Gatekeeper, identity: IdentityClient) -> None:
        super().__init__(gate)
        self.identity = identity

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        caller = await self.admit(context)
        found = await handlers.get_profile(self.identity, caller, request.profile_ref)
        return pb.GetProfileResponse(profile=views.profile_details(found))

    async def ListProfileEvents(
        self, request: pb.ListProfileEventsRequest, context: Context
    ) -> pb.ListProfileEventsResponse:
        await self.admit(context)
        handlers.check_profile_ref(request.profile_ref)
        found = await self.identity.call(
            lambda s: s.ListProfileEvents,
            ipb.ListProfileEventsRequest(
                profile_ref=request.profile_ref,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return pb.ListProfileEventsResponse(
            events=[views.profile_event(e) for e in found.events],
            next_page_token=found.next_page_token,
        )

    async def ListTraitHistory(
        self, request: pb.ListTraitHistoryRequest, context: Context
    ) -> pb.ListTraitHistoryResponse:
        await self.admit(context)
        handlers.check_profile_ref(request.profile_ref)
        found = await self.identity.call(
            lambda s: s.ListTraitHistory,
            ipb.ListTraitHistoryRequest(
                profile_ref=request.profile_ref,
                trait=request.trait,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return pb.ListTraitHistoryResponse(
            changes=[views.trait_change(c) for c in found.changes],
            next_page_token=found.next_page_token,
        )

    async def SearchProfiles(
        self, request: pb.SearchProfilesRequest, context: Context
    ) -> pb.SearchProfilesResponse:
        await self.admit(context)
        required(request, "trait")
        if not request.HasField("value"):
            required(request, "value")
        found = await self.identity.call(
            lambda s: s.SearchProfiles,
            ipb.SearchProfilesRequest(
                trait=request.trait,
                value=request.value,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return pb.SearchProfilesResponse(
            profiles=[views.profile(p) for p in found.profiles],
            next_page_token=found.next_page_token,
        )

    async def UnmergeProfile(
        self, request: pb.UnmergeProfileRequest, context: Context
    ) -> pb.UnmergeProfileResponse:
        await self.admit(context)
        handlers.check_profile_ref(request.profile_ref)
        required(request, "identifiers")
        found = await self.identity.call(
            lambda s: s.UnmergeProfile,
            ipb.UnmergeProfileRequest(
                request_id=request.request_id,
                profile_ref=request.profile_ref,
                identifiers=request.identifiers,
                reason=request.reason,
            ),
        )
        return pb.UnmergeProfileResponse(
            profile=views.profile(found.profile), new_profile=views.profile(found.new_profile)
        )

    async def ForgetProfile(
        self, request: pb.ForgetProfileRequest, context: Context
    ) -> pb.ForgetProfileResponse:
        caller = await self.admit(context)
        forgotten = await handlers.forget_profile(
            self.identity, caller, request.profile_ref, request.request_id
        )
        return pb.ForgetProfileResponse(
            profile_id=forgotten.profile_id,
            alias_profile_ids=forgotten.alias_profile_ids,
            forget_time=forgotten.forget_time,
        )

    async def ApplyAudience(
        self, request: pb.ApplyAudienceRequest, context: Context
    ) -> pb.ApplyAudienceResponse:
        await self.admit(context)
        required(request, "yaml")
        if len(request.yaml) > MAX_YAML:
            raise InvalidArgument.field("yaml", f"must be at most {MAX_YAML} characters")
        found = await self.identity.call(
            lambda s: s.ApplyAudience,
            ipb.ApplyAudienceRequest(
                request_id=request.request_id, yaml=request.yaml, reason=request.reason
            ),
        )
        return pb.ApplyAudienceResponse(
            version=asset_mapping.version_message(found.version),
            audience=pb.Audience(audience_id=found.audience.audience_id, rule=found.audience.rule),
        )

    async def SubmitAudience(
        self, request: pb.SubmitAudienceRequest, context: Context
    ) -> pb.SubmitAudienceResponse:
        await self.admit(context)
        return pb.SubmitAudienceResponse(version=await self._move_audience(Action.SUBMIT, request))

    async def ApproveAudience(
        self, request: pb.ApproveAudienceRequest, context: Context
    ) -> pb.ApproveAudienceResponse:
        await self.admit(context)
        return pb.ApproveAudienceResponse(
            version=await self._move_audience(Action.APPROVE, request)
        )

    async def RejectAudience(
        self, request: pb.RejectAudienceRequest, context: Context
    ) -> pb.RejectAudienceResponse:
        await self.admit(context)
        return pb.RejectAudienceResponse(version=await self._move_audience(Action.REJECT, request))

    async def PublishAudience(
        self, request: pb.PublishAudienceRequest, context: Context
    ) -> pb.PublishAudienceResponse:
        await self.admit(context)
        return pb.PublishAudienceResponse(
            version=await self._move_audience(Action.PUBLISH, request)
        )

    async def PauseAudience(
        self, request: pb.PauseAudienceRequest, context: Context
    ) -> pb.PauseAudienceResponse:
        await self.admit(context)
        return pb.PauseAudienceResponse(version=await self._move_audience(Action.PAUSE, request))

    async def ResumeAudience(
        self, request: pb.ResumeAudienceRequest, context: Context
    ) -> pb.ResumeAudienceResponse:
        await self.admit(context)
        return pb.ResumeAudienceResponse(version=await self._move_audience(Action.RESUME, request))

    async def ArchiveAudience(
        self, request: pb.ArchiveAudienceRequest, context: Context
    ) -> pb.ArchiveAudienceResponse:
        await self.admit(context)
        return pb.ArchiveAudienceResponse(
            version=await self._move_audience(Action.ARCHIVE, request)
        )

    async def RollbackAudience(
        self, request: pb.RollbackAudienceRequest, context: Context
    ) -> pb.RollbackAudienceResponse:
        await self.admit(context)
        return pb.RollbackAudienceResponse(
            version=await self._move_audience(Action.ROLLBACK, request)
        )

    async def GetAudience(
        self, request: pb.GetAudienceRequest, context: Context
    ) -> pb.GetAudienceResponse:
        await self.admit(context)
        required(request, "audience_id")
        found = await self.identity.call(
            lambda s: s.GetAudience,
            ipb.GetAudienceRequest(audience_id=request.audience_id, version=request.version),
        )
        return pb.GetAudienceResponse(
            version=asset_mapping.version_message(found.version),
            audience=pb.Audience(audience_id=found.audience.audience_id, rule=found.audience.rule),
            size=found.size,
        )

    async def ListAudiences(
        self, request: pb.ListAudiencesRequest, context: Context
    ) -> pb.ListAudiencesResponse:
        await self.admit(context)
        found = await self.identity.call(lambda s: s.ListAudiences, ipb.ListAudiencesRequest())
        return pb.ListAudiencesResponse(
            audiences=[
                pb.AudienceSummary(version=asset_mapping.version_message(a.version), size=a.size)
                for a in found.audiences
            ]
        )

    async def ListAudienceMembers(
        self, request: pb.ListAudienceMembersRequest, context: Context
    ) -> pb.ListAudienceMembersResponse:
        await self.admit(context)
        required(request, "audience_id")
        found = await self.identity.call(
            lambda s: s.ListAudienceMembers,
            ipb.ListAudienceMembersRequest(
                audience_id=request.audience_id,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return pb.ListAudienceMembersResponse(
            members=[views.audience_member(m) for m in found.members],
            next_page_token=found.next_page_token,
            total_size=found.total_size,
        )

    async def ApplyComputedTraits(
        self, request: pb.ApplyComputedTraitsRequest, context: Context
    ) -> pb.ApplyComputedTraitsResponse:
        await self.admit(context)
        required(request, "yaml")
        if len(request.yaml) > MAX_YAML:
            raise InvalidArgument.field("yaml", f"must be at most {MAX_YAML} characters")
        found = await self.identity.call(
            lambda s: s.ApplyComputedTraits,
            ipb.ApplyComputedTraitsRequest(
                request_id=request.request_id, yaml=request.yaml, reason=request.reason
            ),
        )
        names = [t.name for t in found.computed_traits.traits]
        version = asset_mapping.version_message(found.version)
        return pb.ApplyComputedTraitsResponse(version=version, trait_names=names)

    async def SubmitComputedTraits(
        self, request: pb.SubmitComputedTraitsRequest, context: Context
    ) -> pb.SubmitComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.SUBMIT, request)
        return pb.SubmitComputedTraitsResponse(version=version)

    async def ApproveComputedTraits(
        self, request: pb.ApproveComputedTraitsRequest, context: Context
    ) -> pb.ApproveComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.APPROVE, request)
        return pb.ApproveComputedTraitsResponse(version=version)

    async def RejectComputedTraits(
        self, request: pb.RejectComputedTraitsRequest, context: Context
    ) -> pb.RejectComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.REJECT, request)
        return pb.RejectComputedTraitsResponse(version=version)

    async def PublishComputedTraits(
        self, request: pb.PublishComputedTraitsRequest, context: Context
    ) -> pb.PublishComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.PUBLISH, request)
        return pb.PublishComputedTraitsResponse(version=version)

    async def PauseComputedTraits(
        self, request: pb.PauseComputedTraitsRequest, context: Context
    ) -> pb.PauseComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.PAUSE, request)
        return pb.PauseComputedTraitsResponse(version=version)

    async def ResumeComputedTraits(
        self, request: pb.ResumeComputedTraitsRequest, context: Context
    ) -> pb.ResumeComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.RESUME, request)
        return pb.ResumeComputedTraitsResponse(version=version)

    async def ArchiveComputedTraits(
        self, request: pb.ArchiveComputedTraitsRequest, context: Context
    ) -> pb.ArchiveComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.ARCHIVE, request)
        return pb.ArchiveComputedTraitsResponse(version=version)

    async def RollbackComputedTraits(
        self, request: pb.RollbackComputedTraitsRequest, context: Context
    ) -> pb.RollbackComputedTraitsResponse:
        await self.admit(context)
        version = await self._move_computed_traits(Action.ROLLBACK, request)
        return pb.RollbackComputedTraitsResponse(version=version)

    async def GetComputedTraits(
        self, request: pb.GetComputedTraitsRequest, context: Context
    ) -> pb.GetComputedTraitsResponse:
        await self.admit(context)
        found = await self.identity.call(
            lambda s: s.GetComputedTraits, ipb.GetComputedTraitsRequest()
        )
        names = [t.name for t in found.computed_traits.traits]
        version = asset_mapping.version_message(found.version)
        return pb.GetComputedTraitsResponse(version=version, trait_names=names)

    async def _move_audience(self, action: Action, request: Any) -> apb.AssetVersion:
        """One lifecycle action on an audience, answered with the gateway's own version."""
        to_version = lifecycle.checked_move(request, action, "audience_id")
        found = await self.identity.call(
            lambda s: s.TransitionAudience,
            ipb.TransitionAudienceRequest(
                request_id=request.request_id,
                audience_id=request.audience_id,
                action=asset_mapping.action_message(action),
                reason=request.reason,
                to_version=to_version,
            ),
        )
        return asset_mapping.version_message(found.version)

    async def _move_computed_traits(self, action: Action, request: Any) -> apb.AssetVersion:
        """One lifecycle action on the tenant's computed traits (one asset: no id)."""
        to_version = lifecycle.checked_move(request, action)
        found = await self.identity.call(
            lambda s: s.TransitionComputedTraits,
            ipb.TransitionComputedTraitsRequest(
                request_id=request.request_id,
                action=asset_mapping.action_message(action),
                reason=request.reason,
                to_version=to_version,
            ),
        )
        return asset_mapping.version_message(found.version)


def profiles_servicer(gate: Gatekeeper, identity: IdentityClient) -> Servicer:
    return Servicer(
        pb_grpc.add_ProfilesServiceServicer_to_server,
        ProfilesServicer(gate, identity),
        SERVICE.full_name,
    )
