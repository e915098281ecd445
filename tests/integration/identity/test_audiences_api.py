"""Audience and computed-trait RPCs through the real servicer over gRPC, on SQLite and
PostgreSQL: the shipped examples applied, reviewed by another person and published; members
listed; bad input named; and another tenant sees and touches nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from layercake.common.v1 import asset_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2_grpc as pb_grpc
from services.identity.api.servicer import identity_servicer
from services.identity.store.keys import SqlProfileKeys
from services.kernel.principals import Principal, Role
from services.kernel.rpc.server import create_server
from services.kernel.rpc.signing import SigningInterceptor
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from tests.contracts.asset_harness import ANN, BOB, OPS, person
from tests.integration.harness import violations
from tests.integration.identity.conftest import identity_units
from tests.signing import INTERNAL

EXAMPLES = Path(__file__).parents[3] / "services/identity/examples"
AUDIENCE = (EXAMPLES / "family-car-intenders.yaml").read_text()
TRAITS = (EXAMPLES / "computed-traits.yaml").read_text()
EVE = person("eve", Role.ADMIN, tenant="other")
A = asset_pb2.AssetAction


class People:
    """Stubs signed for each person, as the gateway signs the calls of a person's key."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.channels: list[grpc.aio.Channel] = []

    def __call__(self, who: Principal) -> pb_grpc.IdentityServiceStub:
        interceptors = [SigningInterceptor(INTERNAL, lambda _: who)]
        channel = grpc.aio.insecure_channel(self.addr, interceptors=interceptors)
        self.channels.append(channel)
        return pb_grpc.IdentityServiceStub(channel)


@pytest.fixture
async def people(identity_db: Database, identity_keys: SqlProfileKeys) -> AsyncIterator[People]:
    units = identity_units(identity_db, identity_keys)
    server = create_server(
        "127.0.0.1:0", [identity_servicer(ServiceLayer(identity_db, units))], internal=INTERNAL
    )
    await server.server.start()
    people = People(f"127.0.0.1:{server.port}")
    try:
        yield people
    finally:
        for channel in people.channels:
            await channel.close()
        await server.server.stop(None)


def rid() -> str:
    return str(uuid.uuid4())


async def test_the_examples_go_live_and_other_tenants_see_nothing(people: People) -> None:
    applied = await people(ANN).ApplyComputedTraits(
        pb.ApplyComputedTraitsRequest(yaml=TRAITS, request_id=rid()), timeout=10
    )
    assert [t.name for t in applied.computed_traits.traits][:2] == [
        "minivan_ad_views_30d",
        "march_madness_views_30d",
    ]
    made = await people(ANN).ApplyAudience(
        pb.ApplyAudienceRequest(yaml=AUDIENCE, request_id=rid()), timeout=10
    )
    assert made.audience.audience_id == "family-car-intenders"
    assert made.version.metadata.owner == "growth-team"
    for who, action in ((ANN, A.ASSET_ACTION_SUBMIT), (BOB, A.ASSET_ACTION_APPROVE)):
        await people(who).TransitionComputedTraits(
            pb.TransitionComputedTraitsRequest(action=action, request_id=rid()), timeout=10
        )
        await people(who).TransitionAudience(
            pb.TransitionAudienceRequest(
                audience_id="family-car-intenders", action=action, request_id=rid()
            ),
            timeout=10,
        )
    live = await people(OPS).TransitionAudience(
        pb.TransitionAudienceRequest(
            audience_id="family-car-intenders", action=A.ASSET_ACTION_PUBLISH, request_id=rid()
        ),
        timeout=10,
    )
    assert live.version.state == asset_pb2.ASSET_STATE_PUBLISHED
    got = await people(ANN).GetAudience(
        pb.GetAudienceRequest(audience_id="family-car-intenders"), timeout=10
    )
    assert got.size == 0 and "minivan" in got.audience.rule
    listed = await people(ANN).ListAudiences(pb.ListAudiencesRequest(), timeout=10)
    assert [a.version.asset_id for a in listed.audiences] == ["family-car-intenders"]
    page = await people(ANN).ListAudienceMembers(
        pb.ListAudienceMembersRequest(audience_id="family-car-intenders"), timeout=10
    )
    assert list(page.members) == [] and page.next_page_token == "" and page.total_size == 0

    eve = people(EVE)
    assert list((await eve.ListAudiences(pb.ListAudiencesRequest(), timeout=10)).audiences) == []
    for call in (
        eve.GetAudience(pb.GetAudienceRequest(audience_id="family-car-intenders"), timeout=10),
        eve.ListAudienceMembers(
            pb.ListAudienceMembersRequest(audience_id="family-car-intenders"), timeout=10
        ),
        eve.GetComputedTraits(pb.GetComputedTraitsRequest(), timeout=10),
        eve.TransitionAudience(
            pb.TransitionAudienceRequest(
                audience_id="family-car-intenders", action=A.ASSET_ACTION_PAUSE, request_id=rid()
            ),
            timeout=10,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await call
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as named:  # naming acme is not acting in it
        await eve.ListAudienceMembers(
            pb.ListAudienceMembersRequest(tenant_id="acme", audience_id="family-car-intenders"),
            timeout=10,
        )
    assert named.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_definitions_and_requests_name_their_fields(people: People) -> None:
    ann = people(ANN)
    with pytest.raises(grpc.aio.AioRpcError) as bad_rule:
        await ann.ApplyAudience(
            pb.ApplyAudienceRequest(
                yaml="audience: x\nowner: o\ndescription: d\nrule: profile.computed.x >",
                request_id=rid(),
            ),
            timeout=10,
        )
    assert bad_rule.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(bad_rule.value) == ["content.rule"]
    with pytest.raises(grpc.aio.AioRpcError) as bad_trait:
        await ann.ApplyComputedTraits(
            pb.ApplyComputedTraitsRequest(
                yaml="owner: o\ntraits:\n  - {name: n, event: e, aggregation: avg, window: 1d}",
                request_id=rid(),
            ),
            timeout=10,
        )
    assert violations(bad_trait.value) == ["traits[0].aggregation"]
    with pytest.raises(grpc.aio.AioRpcError) as bad_action:
        await ann.TransitionAudience(
            pb.TransitionAudienceRequest(audience_id="x", request_id=rid()), timeout=10
        )
    assert violations(bad_action.value) == ["action"]
    with pytest.raises(grpc.aio.AioRpcError) as bad_page:
        await ann.ListAudienceMembers(
            pb.ListAudienceMembersRequest(audience_id="x", page_size=-1), timeout=10
        )
    assert violations(bad_page.value) == ["page_size"]
