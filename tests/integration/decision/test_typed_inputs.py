"""A model with a string and an INT64 input (`tests/typed_model`) over gRPC: registered
against its signature, promoted, and served by Decide and ScoreProfile through the
placement's declared transforms (text from the context, a rounded number from the profile)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import catalog
from services.decision.bootstrap import PROJECTIONS
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.decision.catalogs import publish_catalog, set_traits
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    Replica,
    acting,
    promote,
    register,
    replicas,
)
from tests.typed_model import FEATURES, propensity, typed_model

WELCOME = catalog.read_catalog(
    """
owner: growth-team
placement:
  placement_id: welcome
  model_name: visits
  features:
    - name: region
      source: context.location.region
      kind: FEATURE_TRANSFORM_KIND_TEXT
      default_text: north
    - {name: visits, source: features.trait_visits, kind: FEATURE_TRANSFORM_KIND_NUMERIC}
actions:
  - {action_id: hello, placements: [welcome], value: 1.0}
"""
)


@pytest.fixture
async def served(
    service_db: Database, nats_client: Client
) -> AsyncIterator[tuple[Replica, People]]:
    people = People(random_id("t-"))
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    publish_catalog(units, people, WELCOME)
    set_traits(units, people.ann.tenant_id, "p-1", {"visits": 2.6})
    async with replicas(service_db, nats_client, 1) as (one,):
        registered = await register(one.stub, people.ann, "visits", "1", typed_model(), FEATURES)
        assert [(i.name, i.type) for i in registered.model.inputs] == [
            ("region", "tensor(string)"),
            ("visits", "tensor(int64)"),
        ]
        await promote(one.stub, people, "visits", "1", STAGE.MODEL_STAGE_CHAMPION)
        yield one, people


async def test_decide_builds_text_and_int64_inputs_with_the_placements_transforms(
    served: tuple[Replica, People],
) -> None:
    one, people = served

    async def decide(profile: str, where: dict[str, object]) -> float:
        context = struct_pb2.Struct()
        context.update(where)
        answer = await one.stub.Decide(
            pb.DecideRequest(
                request_id=str(uuid.uuid4()),
                profile_id=profile,
                placement="welcome",
                context=context,
            ),
            metadata=acting(people.ann),
            timeout=10,
        )
        assert (answer.model_name, answer.model_version, answer.fallback) == ("visits", "1", False)
        (action,) = answer.actions
        return float(action.propensity)

    # 2.6 visits are fed as 3; the region as the text the context holds
    assert await decide("p-1", {"location": {"region": "coast"}}) == pytest.approx(
        propensity("coast", 3), abs=1e-6
    )
    assert await decide("p-1", {"location": {"region": "south"}}) == pytest.approx(
        propensity("south", 3), abs=1e-6
    )
    # an unknown person, no region: the transforms' defaults (0 visits, north)
    assert await decide("p-new", {}) == pytest.approx(propensity("north", 0), abs=1e-6)


async def test_score_profile_builds_the_row_with_a_placements_transforms(
    served: tuple[Replica, People],
) -> None:
    one, people = served

    async def score(**fields: Any) -> float:
        answer = await one.stub.ScoreProfile(
            pb.ScoreProfileRequest(model_name="visits", profile_id="p-1", **fields),
            metadata=acting(people.ann),
            timeout=10,
        )
        assert answer.served.version == "1" and answer.served.stage == STAGE.MODEL_STAGE_CHAMPION
        return float(answer.served.score)

    coast = struct_pb2.Struct()
    coast.update({"location": {"region": "coast"}})
    by_placement = {"placement": "welcome", "context": coast}
    assert await score(**by_placement) == pytest.approx(propensity("coast", 3), abs=1e-6)
    assert await score(**by_placement, action_id="hello") == await score(**by_placement)
    more = await score(**by_placement, features={"trait_visits": 5.0})  # over the profile's
    assert more == pytest.approx(propensity("coast", 5), abs=1e-6)
    # without a placement the features are the columns: `visits` rounded, no text: ""
    assert await score(features={"visits": 4.2}) == pytest.approx(propensity("", 4), abs=1e-6)

    for missing in ({"placement": "nowhere"}, {"placement": "welcome", "action_id": "gone"}):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await score(**missing)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
