"""Actions and placements through the RPCs, on two replicas: a catalog published through
one is decided on by the other (CatalogChanged over the broadcast), and paused, it is gone."""

from __future__ import annotations

import uuid

import grpc
import pytest
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.kernel.store.database import Database
from tests.conftest import random_id
from tests.integration.decision.catalogs import publish_catalog_rpc
from tests.integration.decision.model_replicas import People, Replica, acting, replicas
from tests.polling import eventually


async def decide(replica: Replica, people: People) -> pb.DecideResponse:
    response: pb.DecideResponse = await replica.stub.Decide(
        pb.DecideRequest(profile_id="p-1", placement="drinks", max_actions=2),
        metadata=acting(people.ann),
        timeout=10,
    )
    return response


async def test_a_catalog_published_on_one_replica_decides_on_the_other(
    service_db: Database, nats_client: Client
) -> None:
    people = People(random_id("t-"))
    async with replicas(service_db, nats_client, 2) as (one, two):
        assert not (await decide(two, people)).excluded  # nothing published yet
        await publish_catalog_rpc(one.stub, people)
        await one.relay.run_once()

        async def both_excluded() -> bool:  # no stock in the context: neither is eligible
            answer = await decide(two, people)
            return {e.action_id for e in answer.excluded} == {"water", "diet_soda"}

        await eventually(both_excluded)
        paused = await one.stub.TransitionCatalogAsset(
            pb.TransitionCatalogAssetRequest(
                request_id=str(uuid.uuid4()), kind="action", asset_id="water", action="pause"
            ),
            metadata=acting(people.ops),
            timeout=10,
        )
        assert (paused.version.asset_id, paused.version.state) == ("water", "paused")
        await one.relay.run_once()

        async def water_gone() -> bool:
            return [e.action_id for e in (await decide(two, people)).excluded] == ["diet_soda"]

        await eventually(water_gone)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"kind": "journey", "asset_id": "water", "action": "submit"}, "kind"),
        ({"kind": "action", "asset_id": "water", "action": "fly"}, "action"),
    ],
)
async def test_a_bad_transition_names_its_field(
    service_db: Database, nats_client: Client, request_fields: dict[str, str], field: str
) -> None:
    people = People(random_id("t-"))
    async with replicas(service_db, nats_client, 1) as (one,):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await one.stub.TransitionCatalogAsset(
                pb.TransitionCatalogAssetRequest(**request_fields), metadata=acting(people.ann)
            )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (bad.value.details() or "")


async def test_a_bad_catalog_file_names_the_field(
    service_db: Database, nats_client: Client
) -> None:
    people = People(random_id("t-"))
    yaml = """
owner: ann
placement: {placement_id: p, epsilon: 2}
actions:
  - {action_id: a, value: 1, eligibility: "x >"}
"""
    async with replicas(service_db, nats_client, 1) as (one,):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await one.stub.ApplyCatalog(
                pb.ApplyCatalogRequest(yaml=yaml), metadata=acting(people.ann), timeout=10
            )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "epsilon" in (bad.value.details() or "")
