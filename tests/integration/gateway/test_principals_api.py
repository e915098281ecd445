"""Principals, roles and keys through the real gateway servicer (gRPC, real database, NATS)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from services.gateway import handlers
from services.gateway.domain.commands import RevokeRole
from services.gateway.domain.errors import ScopeMissing
from services.kernel.messaging.relay import OutboxRelay
from services.kernel.principals import Actor, PrincipalKind, Scope
from services.kernel.rpc import idempotency
from services.kernel.store.event_store import EventStore
from tests.conftest import random_id
from tests.integration.gateway.conftest import OPERATOR, RunningGateway
from tests.integration.gateway.test_gateway_api import auth, details, event
from tests.polling import eventually

ADMIN = Actor("admin", PrincipalKind.PERSON)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call  # type: ignore[misc]
    return error.value


def reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status else []:
        if detail.Unpack(info):
            return info.reason
    return ""


async def principal_with_key(
    gateway: RunningGateway, admin_key: str, principal_id: str, *roles: str, kind: str = "person"
) -> str:
    """Creates a principal with `roles` and issues it a key with every scope they grant."""
    md = auth(admin_key)
    await gateway.stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(principal_id=principal_id, kind=kind, roles=roles), metadata=md
    )
    issued = await gateway.stub.IssueApiKey(
        gpb.IssueApiKeyRequest(principal_id=principal_id), metadata=md
    )
    return issued.key


async def test_a_viewer_cannot_edit_and_an_editor_cannot_approve(gateway: RunningGateway) -> None:
    admin = gateway.key()
    viewer = await principal_with_key(gateway, admin, "vic", "viewer")
    editor = await principal_with_key(gateway, admin, "ed", "editor")
    await gateway.profiles.GetProfile(
        ppb.GetProfileRequest(profile_ref="cookie_id:ck-81"), metadata=auth(viewer)
    )
    denied = await refused(
        gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(viewer))
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'ingest'" in (denied.details() or "") and reason(denied) == "SCOPE_MISSING"
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(editor))
    assert gateway.wiring.gate is not None
    await gateway.wiring.gate.admit(auth(editor), Scope.ASSETS_WRITE)
    with pytest.raises(ScopeMissing, match="'assets:approve'"):
        await gateway.wiring.gate.admit(auth(editor), Scope.ASSETS_APPROVE)
    not_admin = await refused(
        gateway.stub.ListPrincipals(gpb.ListPrincipalsRequest(), metadata=auth(editor))
    )
    assert not_admin.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'admin'" in (not_admin.details() or "")


async def test_revoking_a_role_takes_effect_on_the_next_call(gateway: RunningGateway) -> None:
    admin = auth(gateway.key())
    key = await principal_with_key(gateway, gateway.key(), "ed", "editor", "viewer")
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    answer = await gateway.stub.RevokeRole(
        gpb.RevokeRoleRequest(principal_id="ed", role="editor", request_id=str(uuid.uuid4())),
        metadata=admin,
    )
    assert list(answer.principal.roles) == ["viewer"]
    denied = await refused(
        gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'ingest'" in (denied.details() or "") and "(viewer)" in (denied.details() or "")
    await gateway.stub.GrantRole(
        gpb.GrantRoleRequest(principal_id="ed", role="editor"), metadata=admin
    )
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    [listed] = (
        await gateway.stub.ListApiKeys(gpb.ListApiKeysRequest(principal_id="ed"), metadata=admin)
    ).api_keys
    assert Scope.INGEST.value in listed.effective_scopes


async def test_a_role_revoked_elsewhere_reaches_this_replica_by_broadcast(
    gateway: RunningGateway, js: JetStreamContext
) -> None:
    """Another replica (or the admin command) revokes; once its event is relayed, this
    replica's broadcast subscription drops the cached key, and the next call is refused."""
    key = await principal_with_key(gateway, gateway.key(), "ed", "editor")
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
    with gateway.uow() as uow:
        handlers.revoke_role(uow, RevokeRole(gateway.tenant, "ed", "editor"), OPERATOR)
    assert await OutboxRelay(gateway.db, js).flush() >= 1

    async def refused() -> grpc.StatusCode:
        try:
            await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(key))
        except grpc.aio.AioRpcError as e:
            return e.code()
        raise AssertionError("still admitted")

    assert await eventually(refused) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_key_cannot_be_issued_with_scopes_beyond_its_principals_roles(
    gateway: RunningGateway,
) -> None:
    admin = auth(gateway.key())
    await gateway.stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(principal_id="ed", kind="person", roles=["editor"]),
        metadata=admin,
    )
    beyond = await refused(
        gateway.stub.IssueApiKey(
            gpb.IssueApiKeyRequest(principal_id="ed", scopes=["ingest", "assets:approve"]),
            metadata=admin,
        )
    )
    assert beyond.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(beyond)[0] == ["scopes"]
    assert "'assets:approve'" in (beyond.details() or "")
    listed = await gateway.stub.ListApiKeys(
        gpb.ListApiKeysRequest(principal_id="ed"), metadata=admin
    )
    assert list(listed.api_keys) == []
    issued = await gateway.stub.IssueApiKey(
        gpb.IssueApiKeyRequest(principal_id="ed", scopes=["ingest"], display_name="ci"),
        metadata=admin,
    )
    assert list(issued.api_key.scopes) == ["ingest"] and issued.key.startswith("lc_")
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(issued.key))


async def test_each_admin_action_is_an_event_with_the_acting_principal(
    gateway: RunningGateway,
) -> None:
    admin = auth(gateway.key())
    await gateway.stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(principal_id="ci", kind="system", roles=["operator"]),
        metadata=admin,
    )
    await gateway.stub.GrantRole(
        gpb.GrantRoleRequest(principal_id="ci", role="viewer"), metadata=admin
    )
    issued = await gateway.stub.IssueApiKey(
        gpb.IssueApiKeyRequest(principal_id="ci"), metadata=admin
    )
    await gateway.stub.RevokeRole(
        gpb.RevokeRoleRequest(principal_id="ci", role="viewer"), metadata=admin
    )
    revoked = await gateway.stub.RevokeApiKey(
        gpb.RevokeApiKeyRequest(key_id=issued.api_key.key_id, reason="rotated"), metadata=admin
    )
    assert revoked.api_key.HasField("revoke_time") and list(revoked.api_key.effective_scopes) == []
    with gateway.db.transaction() as s:
        recorded = [
            (e.type.rsplit(".", 1)[1], e.metadata.actor, e.metadata.tenant_id)
            for e in EventStore(s).load(f"principal-{gateway.tenant}/ci")
        ]
    assert recorded == [
        (name, ADMIN, gateway.tenant)
        for name in (
            "PrincipalCreated",
            "RoleGranted",
            "RoleGranted",
            "ApiKeyIssued",
            "RoleRevoked",
            "ApiKeyRevoked",
        )
    ]
    got = await gateway.stub.GetPrincipal(
        gpb.GetPrincipalRequest(principal_id="ci"), metadata=admin
    )
    assert (got.principal.kind, list(got.principal.roles)) == ("system", ["operator"])


async def test_one_tenants_admin_cannot_see_or_touch_another_tenants_principals(
    gateway: RunningGateway,
) -> None:
    other = random_id("t")
    theirs = gateway.key(tenant=other)
    their_key = await principal_with_key(gateway, theirs, "ann", "editor")
    their_key_id = their_key.split("_")[1]
    mine = auth(gateway.key())
    for call in (
        gateway.stub.GetPrincipal(gpb.GetPrincipalRequest(principal_id="ann"), metadata=mine),
        gateway.stub.GrantRole(
            gpb.GrantRoleRequest(principal_id="ann", role="admin"), metadata=mine
        ),
        gateway.stub.RevokeRole(
            gpb.RevokeRoleRequest(principal_id="ann", role="editor"), metadata=mine
        ),
        gateway.stub.IssueApiKey(gpb.IssueApiKeyRequest(principal_id="ann"), metadata=mine),
        gateway.stub.RevokeApiKey(gpb.RevokeApiKeyRequest(key_id=their_key_id), metadata=mine),
    ):
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    listed = await gateway.stub.ListPrincipals(gpb.ListPrincipalsRequest(), metadata=mine)
    assert [p.principal_id for p in listed.principals] == ["admin"]
    keys = await gateway.stub.ListApiKeys(gpb.ListApiKeysRequest(), metadata=mine)
    assert their_key_id not in {k.key_id for k in keys.api_keys}
    assert {k.principal_id for k in keys.api_keys} == {"admin"}
    await gateway.stub.Ingest(gpb.IngestRequest(events=[event()]), metadata=auth(their_key))
    same_name = await gateway.stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(principal_id="ann", kind="person", roles=["viewer"]),
        metadata=mine,
    )
    assert list(same_name.principal.roles) == ["viewer"]  # ids are per tenant
    theirs_now = await gateway.stub.GetPrincipal(
        gpb.GetPrincipalRequest(principal_id="ann"), metadata=auth(theirs)
    )
    assert list(theirs_now.principal.roles) == ["editor"]


async def test_bad_admin_requests_name_the_field(gateway: RunningGateway) -> None:
    admin = auth(gateway.key())
    bad = await refused(
        gateway.stub.CreatePrincipal(
            gpb.CreatePrincipalRequest(principal_id="Ann!", kind="robot", roles=["owner"]),
            metadata=admin,
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(bad)[0] == ["principal_id", "kind", "roles"]
    bad_id = await refused(
        gateway.stub.GrantRole(
            gpb.GrantRoleRequest(principal_id="admin", role="viewer", request_id="x" * 65),
            metadata=admin,
        )
    )
    assert details(bad_id)[0] == ["request_id"]
    twice = await refused(
        gateway.stub.GrantRole(
            gpb.GrantRoleRequest(principal_id="admin", role="admin"), metadata=admin
        )
    )
    assert (
        twice.code() == grpc.StatusCode.FAILED_PRECONDITION
        and reason(twice) == "ROLE_ALREADY_GRANTED"
    )
    again = await refused(
        gateway.stub.CreatePrincipal(
            gpb.CreatePrincipalRequest(principal_id="admin", kind="person"), metadata=admin
        )
    )
    assert again.code() == grpc.StatusCode.ALREADY_EXISTS
    page = await refused(
        gateway.stub.ListPrincipals(gpb.ListPrincipalsRequest(page_token="%%"), metadata=admin)
    )
    assert details(page)[0] == ["page_token"]


async def test_a_retried_change_with_its_request_id_applies_once(gateway: RunningGateway) -> None:
    admin = auth(gateway.key())
    await gateway.stub.CreatePrincipal(
        gpb.CreatePrincipalRequest(principal_id="ci", kind="system", roles=["editor"]),
        metadata=admin,
    )
    issue = gpb.IssueApiKeyRequest(principal_id="ci", request_id=str(uuid.uuid4()))
    first = await gateway.stub.IssueApiKey(issue, metadata=admin)
    again = await gateway.stub.IssueApiKey(issue, metadata=admin)
    assert again.api_key == first.api_key  # the same key, not a second one...
    assert first.key.startswith("lc_") and again.key == ""  # ...whose secret is never recorded
    with gateway.db.transaction() as s:
        recorded = s.execute(select(idempotency.requests.c.response)).scalars().all()
    assert recorded and not any(first.key.encode() in r for r in recorded)
    grant = gpb.GrantRoleRequest(principal_id="ci", role="viewer", request_id=str(uuid.uuid4()))
    assert await gateway.stub.GrantRole(grant, metadata=admin) == await gateway.stub.GrantRole(
        grant, metadata=admin
    )
    with gateway.db.transaction() as s:
        types = [e.type for e in EventStore(s).load(f"principal-{gateway.tenant}/ci")]
    assert types.count("layercake.gateway.v1.ApiKeyIssued") == 1
    assert types.count("layercake.gateway.v1.RoleGranted") == 2  # editor, then viewer once
