"""gRPC edge of the identity service: proto in, a handler call, proto out; errors map in the
interceptor. The tenant is always the signed principal's, never the body's."""

from __future__ import annotations

import contextlib

import grpc
from nats.js import JetStreamContext

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import (
    forgetting,
    handlers,
    ingest_log,
    mapping,
    queries,
    rule_dry_run,
    unmerging,
)
from services.identity.api import views
from services.identity.api.segments import SegmentRpcs
from services.identity.rules_cache import TenantRules, published_rules
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.identity.stream_eraser import StreamEraser
from services.kernel.errors import Unavailable
from services.kernel.rpc import calls, idempotency
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork

Context = grpc.aio.ServicerContext[object, object]
PREVIEW_LIMIT = 200_000  # messages a rule preview replays at most


class IdentityServicer(SegmentRpcs, pb_grpc.IdentityServiceServicer):
    def __init__(
        self,
        layer: ServiceLayer[SqlIdentityUnitOfWork],
        eraser: StreamEraser | None = None,
        js: JetStreamContext | None = None,
        rules: TenantRules = published_rules,
    ) -> None:
        self.layer = layer
        self.eraser = eraser
        self.js = js
        self.rules = rules  # the process's cache of each tenant's identifier rules

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        tenant = calls.tenant_of(request.tenant_id)
        profile = await self.layer.read(
            handlers.get_profile, tenant, request.profile_ref, self.rules
        )
        return views.profile_response(profile)

    async def UnsealTraits(
        self, request: pb.UnsealTraitsRequest, context: Context
    ) -> pb.UnsealTraitsResponse:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        profile_id, traits = await self.layer.read(
            queries.unseal_traits,
            principal,
            request.profile_ref,
            list(request.trait_names),
            request.purpose,
            self.rules,
        )
        return pb.UnsealTraitsResponse(
            profile_id=profile_id,
            traits={name: mapping.trait_proto(value) for name, value in traits.items()},
        )

    async def ListTraitHistory(
        self, request: pb.ListTraitHistoryRequest, context: Context
    ) -> pb.ListTraitHistoryResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            queries.list_trait_history,
            tenant,
            request.profile_ref,
            request.trait,
            request.page_size,
            request.page_token,
            self.rules,
        )
        return pb.ListTraitHistoryResponse(
            changes=[views.trait_change(c) for c in page.items],
            next_page_token=page.next_page_token,
        )

    async def ListProfileEvents(
        self, request: pb.ListProfileEventsRequest, context: Context
    ) -> pb.ListProfileEventsResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            queries.list_profile_events,
            tenant,
            request.profile_ref,
            request.page_size,
            request.page_token,
            self.rules,
        )
        return pb.ListProfileEventsResponse(
            events=[views.profile_event(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    async def SearchProfiles(
        self, request: pb.SearchProfilesRequest, context: Context
    ) -> pb.SearchProfilesResponse:
        tenant = calls.tenant_of(request.tenant_id)
        page = await self.layer.read(
            queries.search_profiles,
            tenant,
            request.trait,
            views.searched_value(request),
            request.page_size,
            request.page_token,
        )
        return pb.SearchProfilesResponse(
            profiles=[mapping.profile_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def UnmergeProfile(
        self, request: pb.UnmergeProfileRequest, context: Context
    ) -> pb.UnmergeProfileResponse:
        principal = calls.current_principal()
        calls.tenant_of(request.tenant_id)
        key = idempotency.request_key(request.request_id)

        def apply(uow: UnitOfWork) -> pb.UnmergeProfileResponse:
            assert isinstance(uow, SqlIdentityUnitOfWork)
            profile, split_off = unmerging.unmerge_profile(
                uow,
                principal,
                request.profile_ref,
                list(request.identifiers),
                request.request_id,
                request.reason,
                self.rules,
            )
            return pb.UnmergeProfileResponse(
                profile=mapping.profile_proto(profile),
                new_profile=mapping.profile_proto(split_off),
            )

        return await self.layer.run(
            idempotency.once, key, request, pb.UnmergeProfileResponse, apply
        )

    async def ForgetProfile(
        self, request: pb.ForgetProfileRequest, context: Context
    ) -> pb.ForgetProfileResponse:
        calls.tenant_of(request.tenant_id)  # the signed principal's tenant, or refused
        principal = calls.current_principal()
        key = idempotency.request_key(request.request_id)

        def forget(uow: SqlIdentityUnitOfWork) -> pb.ForgetProfileResponse:
            def apply(_: object) -> pb.ForgetProfileResponse:
                found = forgetting.forget_profile(
                    uow, principal, request.profile_ref, request.request_id, self.rules
                )
                return mapping.forgotten_proto(found)

            return idempotency.once(uow, key, request, pb.ForgetProfileResponse, apply)

        response = await self.layer.run(forget)
        await self.layer.db.run(self.layer.db.truncate_wal)  # the old pages' clear values go
        if self.eraser is not None:  # now, not at the next pass; what fails waits for it
            with contextlib.suppress(Exception):
                await self.eraser.erase_pending()
        return response

    async def DryRunIdentifierRules(
        self, request: pb.DryRunIdentifierRulesRequest, context: Context
    ) -> pb.DryRunIdentifierRulesResponse:
        tenant = calls.tenant_of(request.tenant_id)
        principal = calls.current_principal()
        if self.js is None:
            raise Unavailable("no INGEST stream to preview the rules on")
        messages = await ingest_log.tenant_messages(self.js, tenant, PREVIEW_LIMIT)
        preview = await self.layer.read(
            rule_dry_run.preview_rules, principal, request.version, messages
        )
        return mapping.rule_preview_proto(preview)


def identity_servicer(
    layer: ServiceLayer[SqlIdentityUnitOfWork],
    eraser: StreamEraser | None = None,
    js: JetStreamContext | None = None,
    rules: TenantRules = published_rules,
) -> Servicer:
    """`rules`: the process's `RulesCache().get` (read afresh each call by default)."""
    return Servicer(
        pb_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(layer, eraser, js, rules),
        pb.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
