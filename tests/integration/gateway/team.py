"""A tenant's team behind the real gateway: an admin (who made everyone else through the
admin API), and people with one role each, every one with an API key of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from layercake.gateway.v1 import facts_service_pb2_grpc as fgrpc
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import journeys_service_pb2_grpc as jgrpc
from layercake.gateway.v1 import status_service_pb2_grpc as sgrpc
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.conftest import new_key

# name -> (kind, role): the people of the four-eyes lifecycle, and a partner's backend
MEMBERS = {
    "ann": ("person", "editor"),
    "cat": ("person", "approver"),
    "ops": ("person", "operator"),
    "vic": ("person", "viewer"),
    "crm": ("system", "editor"),
}


@dataclass
class Team:
    gateway: str
    tenant: str
    keys: dict[str, str]
    journeys: jgrpc.JourneysServiceAsyncStub
    facts: fgrpc.FactsServiceAsyncStub
    admin: ggrpc.GatewayServiceAsyncStub
    status: sgrpc.StatusServiceAsyncStub

    def auth(self, who: str) -> tuple[tuple[str, str], ...]:
        """The metadata of `who`'s calls (`admin` or a member's name)."""
        return (("authorization", f"Bearer {self.keys[who]}"),)


def request_id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def team(services: Services, tenant: str | None = None) -> AsyncIterator[Team]:
    """The team of a fresh tenant (or `tenant`) and stubs of the gateway's services."""
    assert services.gateway.context is not None
    tenant = tenant or random_id("t")
    keys = {"admin": new_key(services.gateway.context.uow, tenant)}
    async with grpc.aio.insecure_channel(services.addr(services.gateway)) as channel:
        made = Team(
            services.addr(services.gateway),
            tenant,
            keys,
            jgrpc.JourneysServiceStub(channel),
            fgrpc.FactsServiceStub(channel),
            ggrpc.GatewayServiceStub(channel),
            sgrpc.StatusServiceStub(channel),
        )
        for name, (kind, role) in MEMBERS.items():
            await made.admin.CreatePrincipal(
                gpb.CreatePrincipalRequest(
                    principal_id=name, kind=kind, roles=[role], request_id=request_id()
                ),
                metadata=made.auth("admin"),
                timeout=10,
            )
            issued = await made.admin.IssueApiKey(
                gpb.IssueApiKeyRequest(principal_id=name, request_id=request_id()),
                metadata=made.auth("admin"),
                timeout=10,
            )
            keys[name] = issued.key
        yield made
