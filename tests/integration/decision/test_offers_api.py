"""ListOffers and GetOffer: a tenant's actions with their lifecycle and latest definition,
paged by id; another tenant's offers are never seen. A page is a seek of the assets read
model's primary key after the token's id (EXPLAIN-checked on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from nats.aio.client import Client
from sqlalchemy import insert

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision.catalog import ACTION, PLACEMENT
from services.kernel.assets.repository import list_query
from services.kernel.assets.tables import assets
from services.kernel.store.database import Database
from tests.conftest import random_id
from tests.integration.decision.catalogs import publish_catalog_rpc
from tests.integration.decision.model_replicas import People, acting, replicas
from tests.integration.harness import explain


async def test_offers_list_by_id_in_pages_and_one_reads_back(
    service_db: Database, nats_client: Client
) -> None:
    people, other = People(random_id("t-")), People(random_id("t-"))
    async with replicas(service_db, nats_client, 1) as (one,):
        await publish_catalog_rpc(one.stub, people)
        seen, token = [], ""
        while True:
            page = await one.stub.ListOffers(
                pb.ListOffersRequest(page_size=1, page_token=token),
                metadata=acting(people.ann),
                timeout=10,
            )
            assert len(page.offers) <= 1
            seen.extend(page.offers)
            token = page.next_page_token
            if not token:
                break
        assert [o.action_id for o in seen] == ["diet_soda", "water"]  # actions only, by id
        assert {(o.state, o.published_version, o.published_state) for o in seen} == {
            ("published", 1, "published")
        }
        found = await one.stub.GetOffer(
            pb.GetOfferRequest(action_id="water"), metadata=acting(people.ann), timeout=10
        )
        water = found.offer
        assert water.definition.value == 1.0 and water.definition.eligibility
        assert list(water.definition.placements) == ["drinks"]
        assert water.owner == "growth-team" and water.latest_version == 1

        theirs = await one.stub.ListOffers(
            pb.ListOffersRequest(), metadata=acting(other.ann), timeout=10
        )
        assert not theirs.offers
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await one.stub.GetOffer(
                pb.GetOfferRequest(action_id="water"), metadata=acting(other.ann), timeout=10
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await one.stub.ListOffers(
                pb.ListOffersRequest(page_token="not a token!"), metadata=acting(people.ann)
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (bad.value.details() or "")


def _row(tenant: str, kind: str, asset_id: str) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "kind": kind,
        "asset_id": asset_id,
        "state": "draft",
        "latest_version": 1,
        "published_version": 0,
        "published_state": "",
        "content_hash": "",
        "display_name": "",
        "owner": "",
        "team": "",
        "support_contact": "",
        "tags": "",
        "stream_version": 1,
        "update_time": datetime(2026, 3, 1, tzinfo=UTC),
    }


def test_a_page_of_offers_seeks_the_primary_key(service_db: Database) -> None:
    with service_db.transaction() as session:
        session.execute(
            insert(assets),
            [
                _row(tenant, kind, f"a-{n:04}")
                for tenant in ("acme", "globex")
                for kind in (ACTION.name, PLACEMENT.name)
                for n in range(1500)
            ],
        )
    query = list_query("acme", ACTION.name, "a-0100", 3)
    with service_db.transaction() as session:
        found = [tuple(r) for r in session.execute(query.with_only_columns(*assets.c[:3]))]
    assert found == [("acme", ACTION.name, f"a-{n:04}") for n in (101, 102, 103)]
    plan = explain(
        service_db, lambda s: s.execute(list_query("acme", ACTION.name, "a-0100", 101)), "assets"
    )
    if service_db.is_sqlite:
        assert "(tenant_id=? AND kind=? AND asset_id>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # read in key order: no sort
    else:
        assert "pk_assets" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan
