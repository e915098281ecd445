"""A partner of the real services, as the public gateway API sees them: a tenant with an
admin key and a second person (approver and operator, for four eyes), and what it made."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import json_format

from layercake.gateway.v1 import decisions_service_pb2 as dpb
from layercake.gateway.v1 import decisions_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import ingest_pb2
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc
from services.decision import training
from tests.conftest import random_id
from tests.integration.conftest import Services
from tests.integration.gateway.conftest import new_key

CHUNK = 64 * 1024


def request_id() -> str:
    return str(uuid.uuid4())


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@dataclass
class Partner:
    """One tenant's keys and stubs, and the ids of what it made (what no other may see)."""

    tenant: str
    admin: str
    reviewer: str
    reviewer_id: str
    reviewer_key_id: str
    gateway: ggrpc.GatewayServiceAsyncStub
    profiles: pgrpc.ProfilesServiceAsyncStub
    decisions: dgrpc.DecisionsServiceAsyncStub
    made: dict[str, str] = field(default_factory=dict)

    def markers(self) -> list[bytes]:
        """Ids only this partner's data holds."""
        return [v.encode() for v in (self.tenant, self.reviewer_id, *self.made.values())]


async def partner(services: Services, channel: grpc.aio.Channel) -> Partner:
    assert services.gateway.context is not None
    tenant = random_id("t")
    admin = new_key(services.gateway.context.uow, tenant)
    stub = ggrpc.GatewayServiceStub(channel)
    reviewer_id = random_id("rev-")
    await stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(
            request_id=request_id(),
            principal_id=reviewer_id,
            kind="person",
            roles=["approver", "operator"],
        ),
        metadata=auth(admin),
        timeout=10,
    )
    issued = await stub.IssueApiKey(
        gpb.IssueApiKeyRequest(request_id=request_id(), principal_id=reviewer_id),
        metadata=auth(admin),
        timeout=10,
    )
    return Partner(
        tenant,
        admin,
        issued.key,
        reviewer_id,
        issued.api_key.key_id,
        stub,
        pgrpc.ProfilesServiceStub(channel),
        dgrpc.DecisionsServiceStub(channel),
    )


def event(
    kind: str, at: str, identifiers: dict[str, str], **extra: object
) -> ingest_pb2.IngestEvent:
    body = {
        "message_id": random_id("m-"),
        "type": kind,
        "timestamp": at,
        "identifiers": identifiers,
    } | extra
    return json_format.ParseDict(body, ingest_pb2.IngestEvent())


async def upload(
    header: dpb.ModelUpload, content: bytes
) -> AsyncIterator[dpb.RegisterModelRequest]:
    yield dpb.RegisterModelRequest(upload=header)
    for start in range(0, len(content), CHUNK):
        yield dpb.RegisterModelRequest(chunk=content[start : start + CHUNK])


def model_upload(name: str, version: str) -> tuple[dpb.ModelUpload, bytes]:
    header = dpb.ModelUpload(
        request_id=request_id(),
        model_name=name,
        version=version,
        feature_names=list(training.FEATURES),
        owner="ann",
        labels={"framework": "sklearn"},
    )
    return header, training.DEFAULT_PATH.read_bytes()


def catalog_yaml(placement: str, water: str, soda: str) -> str:
    """A placement ranked by value alone (no model, no exploration) and two offers."""
    return f"""
owner: growth-team
description: drinks at the checkout
placement:
  placement_id: {placement}
  max_actions: 2
  epsilon: 0
  cold_start_share: 0
actions:
  - action_id: {water}
    placements: [{placement}]
    value: 1.0
    attributes: {{product: water}}
  - action_id: {soda}
    placements: [{placement}]
    value: 2.0
    attributes: {{product: diet_soda}}
"""
