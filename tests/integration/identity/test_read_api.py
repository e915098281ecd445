"""The read API and UnmergeProfile over gRPC on SQLite and PostgreSQL: tenant isolation on
every RPC, the search index's plan, and an unmerge the read model and later events follow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import struct_pb2
from sqlalchemy import insert

from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity import handlers
from services.identity.api.servicer import identity_servicer
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.store.tables import profile_trait_index
from services.identity.store.trait_index import search_query, value_hash
from services.kernel.principals import Role
from services.kernel.rpc.server import create_server
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import violations
from tests.integration.identity.conftest import query_plan
from tests.signing import INTERNAL, signed_channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
Stub = Callable[..., pb_grpc.IdentityServiceStub]


@pytest.fixture
async def stub(identity_db: Database, identity_uow: UnitOfWorkFactory) -> AsyncIterator[Stub]:
    """`stub(tenant, *roles)`: a client signed for that tenant and roles."""
    layer = ServiceLayer(identity_db, identity_uow)
    server = create_server("127.0.0.1:0", [identity_servicer(layer)], internal=INTERNAL)
    await server.server.start()
    channels: list[grpc.aio.Channel] = []

    def make(tenant: str, *roles: Role) -> pb_grpc.IdentityServiceStub:
        channel = signed_channel(f"127.0.0.1:{server.port}", tenant, roles=frozenset(roles))
        channels.append(channel)
        return pb_grpc.IdentityServiceStub(channel)

    try:
        yield make
    finally:
        for channel in channels:
            await channel.close()
        await server.server.stop(None)


def ingest(
    uow: UnitOfWorkFactory,
    tenant: str,
    message_id: str,
    hour: int,
    *ids: tuple[str, str],
    **traits: str,
) -> None:
    command = ApplyIngestedEvent(tenant, message_id, T0 + timedelta(hours=hour), ids, traits)
    with uow() as u:
        handlers.apply_ingested_event(u, command, message_id)
        u.commit()


@pytest.fixture
def tenant(identity_uow: UnitOfWorkFactory) -> str:
    """A tenant where d1 and d2 were wrongly merged (d2's email makes the merge)."""
    tenant = random_id("t")
    ingest(identity_uow, tenant, "m1", 0, ("device_id", "d1"), plan='"free"')
    ingest(
        identity_uow,
        tenant,
        "m2",
        1,
        ("device_id", "d2"),
        ("email", "bob@example.com"),
        plan='"gold"',
    )
    ingest(identity_uow, tenant, "m3", 2, ("device_id", "d1"), ("device_id", "d2"))
    return tenant


async def test_every_read_rpc_answers_within_the_tenant_only(
    stub: Stub, tenant: str, identity_uow: UnitOfWorkFactory
) -> None:
    elsewhere = random_id("t")  # the same device and email, another tenant's person
    ingest(identity_uow, elsewhere, "m9", 0, ("device_id", "d1"), ("email", "bob@example.com"))
    mine, theirs = stub(tenant), stub(elsewhere)
    found = await mine.GetProfile(
        pb.GetProfileRequest(profile_ref="email:Bob@example.com"), timeout=5
    )
    assert {i.message_id for i in found.identities} == {"m1", "m2"} and found.alias_profile_ids
    ref = found.profile.profile_id
    history = await mine.ListTraitHistory(pb.ListTraitHistoryRequest(profile_ref=ref), timeout=5)
    assert [c.json_value for c in history.changes] == ['"gold"', '"free"']
    events = await mine.ListProfileEvents(pb.ListProfileEventsRequest(profile_ref=ref), timeout=5)
    assert [e.message_id for e in events.events] == ["m3", "m2", "m1"]
    gold = pb.SearchProfilesRequest(trait="plan", value=struct_pb2.Value(string_value="gold"))
    assert [p.profile_id for p in (await mine.SearchProfiles(gold, timeout=5)).profiles] == [ref]

    assert not (await theirs.SearchProfiles(gold, timeout=5)).profiles
    for by_identifier in ("email:Bob@example.com", "device_id:d1", "device_id:d2"):
        try:
            own = await theirs.GetProfile(
                pb.GetProfileRequest(profile_ref=by_identifier), timeout=5
            )
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND  # d2 is only in `tenant`
            continue
        assert own.profile.profile_id != ref and not own.profile.traits  # their own person
    for call, request in [
        (theirs.GetProfile, pb.GetProfileRequest(profile_ref=ref)),
        (theirs.ListTraitHistory, pb.ListTraitHistoryRequest(profile_ref=ref)),
        (theirs.ListProfileEvents, pb.ListProfileEventsRequest(profile_ref=ref)),
        (
            stub(random_id("t"), Role.ADMIN).UnmergeProfile,
            pb.UnmergeProfileRequest(profile_ref=ref, identifiers=["device_id:d2"]),
        ),
        (
            stub(elsewhere, Role.ADMIN).ForgetProfile,
            pb.ForgetProfileRequest(profile_ref=ref, request_id=str(uuid.uuid4())),
        ),
        *[
            (theirs.GetProfile, pb.GetProfileRequest(profile_ref=alias))
            for alias in found.alias_profile_ids
        ],
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await call(request, timeout=5)
        assert other.value.code() == grpc.StatusCode.NOT_FOUND
        assert "bob" not in (other.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as named:  # naming the other tenant in the body
        await theirs.GetProfile(pb.GetProfileRequest(tenant_id=tenant, profile_ref=ref), timeout=5)
    assert named.value.code() == grpc.StatusCode.PERMISSION_DENIED
    still = await mine.GetProfile(pb.GetProfileRequest(profile_ref=ref), timeout=5)
    assert still.profile.traits and still.profile.profile_id == ref  # nothing they did reached it


async def test_unmerge_is_idempotent_role_checked_and_followed_by_reads_and_events(
    stub: Stub, tenant: str, identity_uow: UnitOfWorkFactory
) -> None:
    request = pb.UnmergeProfileRequest(
        request_id=str(uuid.uuid4()),
        profile_ref="device_id:d1",
        identifiers=["device_id:d2", "email:bob@example.com"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as viewer:
        await stub(tenant, Role.VIEWER).UnmergeProfile(request, timeout=5)
    assert viewer.value.code() == grpc.StatusCode.PERMISSION_DENIED
    editor = stub(tenant, Role.EDITOR)
    first = await editor.UnmergeProfile(request, timeout=5)
    again = await editor.UnmergeProfile(request, timeout=5)  # a retry: the first answer
    assert again == first and first.new_profile.profile_id != first.profile.profile_id
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await editor.UnmergeProfile(pb.UnmergeProfileRequest(profile_ref="device_id:d1"), timeout=5)
    assert violations(bad.value) == ["identifiers"]

    ingest(identity_uow, tenant, "m4", 5, ("email", "bob@example.com"), plan='"platinum"')
    bob = await editor.GetProfile(pb.GetProfileRequest(profile_ref="device_id:d2"), timeout=5)
    assert bob.profile.profile_id == first.new_profile.profile_id
    assert bob.profile.traits["plan"].json_value == '"platinum"'
    search = pb.SearchProfilesRequest(trait="plan", value=struct_pb2.Value(string_value="free"))
    free = (await editor.SearchProfiles(search, timeout=5)).profiles
    assert [p.profile_id for p in free] == [first.profile.profile_id]
    search.value.string_value = "gold"
    assert not (await editor.SearchProfiles(search, timeout=5)).profiles


def test_search_is_an_index_seek_on_tenant_trait_and_value(identity_db: Database) -> None:
    rows = [
        {
            "tenant_id": "acme",
            "trait": f"t{n % 7}",
            "value_hash": value_hash(str(n % 50)),
            "profile_id": f"p{n}",
        }
        for n in range(3000)
    ]
    with identity_db.transaction() as s:
        s.execute(insert(profile_trait_index), rows)
    query = search_query("acme", "t3", "3", "p1", 51)
    dialect, plan, cond = query_plan(identity_db, query, seqscan=False)
    if dialect == "sqlite":
        assert "tenant_id=? AND trait=? AND value_hash=? AND profile_id>?" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # the index gives the order
    else:
        assert "profile_trait_index_pkey" in plan, plan
        assert "value_hash =" in cond and "profile_id >" in cond, plan
        assert "Sort" not in plan, plan


async def test_unseal_answers_only_the_named_traits_of_the_callers_tenant(
    stub: Stub, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = stub(tenant, Role.VIEWER)
    request = pb.UnsealTraitsRequest(
        profile_ref="device_id:d2", trait_names=["plan", "nickname"], purpose="send:s-1"
    )
    with caplog.at_level("INFO", logger="services.identity.queries"):
        answer = await reader.UnsealTraits(request, timeout=5)
    assert dict(answer.traits).keys() == {"plan"}  # the profile has no nickname
    assert answer.traits["plan"].json_value == '"gold"'
    (line,) = [r for r in caplog.records if r.getMessage() == "traits unsealed"]
    assert line.purpose == "send:s-1" and '"gold"' not in str(line.__dict__)  # type: ignore[attr-defined]

    for who, bad, code in [
        (stub(random_id("t"), Role.VIEWER), request, grpc.StatusCode.NOT_FOUND),
        (stub(tenant), request, grpc.StatusCode.PERMISSION_DENIED),
        (
            reader,
            pb.UnsealTraitsRequest(profile_ref="device_id:d2"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await who.UnsealTraits(bad, timeout=5)
        assert refused.value.code() == code
