"""gRPC edge of the gateway: admit the caller, translate proto <-> handler call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from layercake.gateway.v1 import gateway_service_pb2 as pb
from layercake.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from services.gateway import handlers, ingest_mapping, mapping, tracking_plans
from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.api.plans import PlanBook
from services.gateway.api.public import PublicRpcs, required
from services.gateway.config import GatewayConfig
from services.gateway.domain.commands import (
    CreatePrincipal,
    GrantRole,
    IssueApiKey,
    RevokeApiKey,
    RevokeRole,
)
from services.gateway.domain.keys import Caller
from services.gateway.ingest_commits import IngestCommits
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.kernel.clock import Clock
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Actor, Principal, Scope
from services.kernel.protobuf import from_timestamp
from services.kernel.rpc import idempotency
from services.kernel.rpc.server import Servicer
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.unit_of_work import UnitOfWork

Context = grpc.aio.ServicerContext[Any, Any]
C = TypeVar("C")


class Changed(Protocol):
    """What an admin change answers: it names the principal whose roles or keys changed."""

    @property
    def principal(self) -> Principal: ...


R = TypeVar("R", bound=Changed)
M = TypeVar("M", bound=Message)


# The admin API's mutating requests (AIP-155): retried with the same `request_id`, applied once.
MutatingRequest = (
    pb.CreatePrincipalRequest
    | pb.GrantRoleRequest
    | pb.RevokeRoleRequest
    | pb.IssueApiKeyRequest
    | pb.RevokeApiKeyRequest
)


SERVICE = pb.DESCRIPTOR.services_by_name["GatewayService"]

scopes.declare(
    SERVICE,
    {
        "Ingest": Scope.INGEST,
        "CreatePrincipal": Scope.ADMIN,
        "GetPrincipal": Scope.ADMIN,
        "ListPrincipals": Scope.ADMIN,
        "GrantRole": Scope.ADMIN,
        "RevokeRole": Scope.ADMIN,
        "IssueApiKey": Scope.ADMIN,
        "RevokeApiKey": Scope.ADMIN,
        "ListApiKeys": Scope.ADMIN,
        "ApplyTrackingPlan": Scope.ADMIN,
        "GetTrackingPlan": Scope.ASSETS_READ,
    },
)


class GatewayServicer(PublicRpcs, pb_grpc.GatewayServiceServicer):
    def __init__(
        self,
        gate: Gatekeeper,
        commits: IngestCommits,
        layer: ServiceLayer[SqlGatewayUnitOfWork],
        plans: PlanBook,
        clock: Clock,
        config: GatewayConfig,
    ) -> None:
        super().__init__(gate)
        self.plans = plans
        self.commits = commits
        self.config = config
        self.layer = layer
        self.clock = clock

    async def _change(
        self,
        caller: Caller,
        request: MutatingRequest,
        response_type: type[M],
        handler: Callable[[GatewayUnitOfWork, C, Actor], R],
        command: C,
        answer: Callable[[R], M],
    ) -> M:
        """Every admin change goes through here: applied once per `request_id` (the answer
        recorded with the effects), the caller recorded as the actor, and this replica's key
        cache told at once whose keys changed."""
        key = idempotency.request_key(request.request_id, tenant_id=caller.tenant_id)
        changed: list[Principal] = []

        def apply(uow: UnitOfWork) -> M:
            assert isinstance(uow, GatewayUnitOfWork), "the gateway's layer makes its own"
            result = handler(uow, command, caller.actor)
            changed.append(result.principal)
            return answer(result)

        response = await self.layer.run(idempotency.once, key, request, response_type, apply)
        for principal in changed:
            self.gate.directory.invalidate(principal.tenant_id, principal.actor.id)
        return response

    async def Ingest(self, request: pb.IngestRequest, context: Context) -> pb.IngestResponse:
        caller = await self.admit(context, cost=max(1, len(request.events)))
        key = idempotency.request_key(request.request_id, tenant_id=caller.tenant_id)

        async def ingest() -> pb.IngestResponse:
            outcomes = await handlers.ingest(
                self.commits,
                self.layer,
                self.plans,
                caller,
                handlers.Ingest(
                    request.events,
                    request.ByteSize(),
                    self.clock.now(),
                    _sent_at(request),
                    self.config.limits(),
                    self.config.dedupe_window,
                ),
            )
            return pb.IngestResponse(results=[ingest_mapping.ingest_result(o) for o in outcomes])

        # Published events are deduplicated by message id, so the answer is recorded after.
        return await idempotency.once_async(
            self.layer.db, self.clock, key, request, pb.IngestResponse, ingest
        )

    async def CreatePrincipal(
        self, request: pb.CreatePrincipalRequest, context: Context
    ) -> pb.CreatePrincipalResponse:
        caller = await self.admit(context)
        command = CreatePrincipal(
            caller.tenant_id,
            request.principal_id,
            request.kind,
            request.display_name,
            tuple(request.roles),
        )
        return await self._change(
            caller,
            request,
            pb.CreatePrincipalResponse,
            handlers.create_principal,
            command,
            lambda p: pb.CreatePrincipalResponse(principal=mapping.principal_message(p)),
        )

    async def GetPrincipal(
        self, request: pb.GetPrincipalRequest, context: Context
    ) -> pb.GetPrincipalResponse:
        caller = await self.admit(context)
        required(request, "principal_id")
        found = await self.layer.read(
            handlers.get_principal, caller.tenant_id, request.principal_id
        )
        return pb.GetPrincipalResponse(principal=mapping.principal_message(found))

    async def ListPrincipals(
        self, request: pb.ListPrincipalsRequest, context: Context
    ) -> pb.ListPrincipalsResponse:
        caller = await self.admit(context)
        page = await self.layer.read(
            handlers.list_principals, caller.tenant_id, request.page_size, request.page_token
        )
        return pb.ListPrincipalsResponse(
            principals=[mapping.principal_message(p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def GrantRole(
        self, request: pb.GrantRoleRequest, context: Context
    ) -> pb.GrantRoleResponse:
        caller = await self.admit(context)
        command = GrantRole(caller.tenant_id, request.principal_id, request.role)
        return await self._change(
            caller,
            request,
            pb.GrantRoleResponse,
            handlers.grant_role,
            command,
            lambda p: pb.GrantRoleResponse(principal=mapping.principal_message(p)),
        )

    async def RevokeRole(
        self, request: pb.RevokeRoleRequest, context: Context
    ) -> pb.RevokeRoleResponse:
        caller = await self.admit(context)
        command = RevokeRole(caller.tenant_id, request.principal_id, request.role)
        return await self._change(
            caller,
            request,
            pb.RevokeRoleResponse,
            handlers.revoke_role,
            command,
            lambda p: pb.RevokeRoleResponse(principal=mapping.principal_message(p)),
        )

    async def IssueApiKey(
        self, request: pb.IssueApiKeyRequest, context: Context
    ) -> pb.IssueApiKeyResponse:
        caller = await self.admit(context)
        required(request, "principal_id")
        command = IssueApiKey(
            caller.tenant_id, request.principal_id, tuple(request.scopes), request.display_name
        )
        issued: dict[str, str] = {}  # key id -> the whole key, never recorded

        def answer(key: handlers.IssuedKey) -> pb.IssueApiKeyResponse:
            issued[key.key_id] = key.text
            return pb.IssueApiKeyResponse(api_key=mapping.api_key_message(key.key))

        response = await self._change(
            caller, request, pb.IssueApiKeyResponse, handlers.issue_api_key, command, answer
        )
        # The recorded answer (what a retry gets) holds no secret: only this one shows it.
        response.key = issued.get(response.api_key.key_id, "")
        return response

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        caller = await self.admit(context)
        required(request, "key_id")
        command = RevokeApiKey(caller.tenant_id, request.key_id, request.reason)
        return await self._change(
            caller,
            request,
            pb.RevokeApiKeyResponse,
            handlers.revoke_api_key,
            command,
            lambda k: pb.RevokeApiKeyResponse(api_key=mapping.api_key_message(k)),
        )

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        caller = await self.admit(context)
        page = await self.layer.read(
            handlers.list_api_keys,
            caller.tenant_id,
            request.principal_id,
            request.page_size,
            request.page_token,
        )
        return pb.ListApiKeysResponse(
            api_keys=[mapping.api_key_message(k) for k in page.items],
            next_page_token=page.next_page_token,
        )

    async def ApplyTrackingPlan(
        self, request: pb.ApplyTrackingPlanRequest, context: Context
    ) -> pb.ApplyTrackingPlanResponse:
        """Applied once per `request_id`; this replica's cache drops the plan at once, the
        others when the broadcast brings the new version."""
        caller = await self.admit(context)
        key = idempotency.request_key(request.request_id, tenant_id=caller.tenant_id)
        document = mapping.struct_document(request.plan)

        def apply(uow: UnitOfWork) -> pb.ApplyTrackingPlanResponse:
            assert isinstance(uow, GatewayUnitOfWork), "the gateway's layer makes its own"
            plan = tracking_plans.apply_tracking_plan(uow, caller.tenant_id, document, caller.actor)
            return pb.ApplyTrackingPlanResponse(tracking_plan=mapping.tracking_plan_message(plan))

        response = await self.layer.run(
            idempotency.once, key, request, pb.ApplyTrackingPlanResponse, apply
        )
        self.plans.invalidate(caller.tenant_id)
        return response

    async def GetTrackingPlan(
        self, request: pb.GetTrackingPlanRequest, context: Context
    ) -> pb.GetTrackingPlanResponse:
        caller = await self.admit(context)
        plan = await self.layer.read(tracking_plans.get_tracking_plan, caller.tenant_id)
        counts = await self.layer.read(tracking_plans.tracking_plan_counts, caller.tenant_id)
        return pb.GetTrackingPlanResponse(
            tracking_plan=mapping.tracking_plan_message(plan),
            counts=mapping.tracking_plan_counts(counts),
        )


def _sent_at(request: pb.IngestRequest) -> datetime | None:
    """The client's send time; absent, or out of protobuf's range, it corrects nothing."""
    if not request.HasField("sent_at"):
        return None
    try:
        return from_timestamp(request.sent_at)
    except (ValueError, OverflowError):
        raise InvalidArgument.field("sent_at", "is out of range") from None


def gateway_servicer(servicer: GatewayServicer) -> Servicer:
    return Servicer(
        pb_grpc.add_GatewayServiceServicer_to_server,
        servicer,
        SERVICE.full_name,
    )
