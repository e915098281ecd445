"""The seed's example, decided end to end over gRPC: water or diet soda by the weather,
the store's location and stock, and the person, with the shipped `drinks` model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import struct_pb2
from nats.aio.client import Client
from sqlalchemy import select

from layercake.decision.v1 import decision_service_pb2 as pb
from layercake.decision.v1 import decisions_pb2
from services.decision import training
from services.decision.bootstrap import PROJECTIONS
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.store.database import Database
from services.kernel.store.schema import outbox
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

DRINKS_MODEL = training.DRINKS_PATH.read_bytes()


def context(temperature: float, water: int = 10, soda: int = 10) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(
        {
            "channel": "kiosk",
            "weather": {"temperature_c": temperature},
            "location": {"region": "coast", "store_id": "s-12"},
            "stock": {"water": water, "diet_soda": soda},
            "local_time": "13:05",
            "device": "kiosk-3",
        }
    )
    return found


@pytest.fixture
async def served(
    service_db: Database, nats_client: Client
) -> AsyncIterator[tuple[Replica, People]]:
    people = People(random_id("t-"))
    tenant = people.ann.tenant_id
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    publish_catalog(units, people)
    set_traits(units, tenant, "p-hot", {"age": 30, "sodas_30d": 0, "prefers_sugar_free": 0})
    set_traits(units, tenant, "p-soda", {"age": 40, "sodas_30d": 6, "prefers_sugar_free": 1})
    set_traits(units, tenant, "p-kid", {"age": 9})
    columns = training.drinks_placement().features.columns
    async with replicas(service_db, nats_client, 1) as (one,):
        await register(one.stub, people.ann, "drinks", "1", DRINKS_MODEL, columns)
        await promote(one.stub, people, "drinks", "1", STAGE.MODEL_STAGE_CHAMPION)
        yield one, people


def best(answer: pb.DecideResponse) -> str:
    return max(answer.actions, key=lambda a: a.score).action_id


async def decide(
    one: Replica, people: People, profile: str, where: struct_pb2.Struct, seed: int = 1
) -> pb.DecideResponse:
    response: pb.DecideResponse = await one.stub.Decide(
        pb.DecideRequest(
            request_id=str(uuid.uuid4()),
            profile_id=profile,
            placement="drinks",
            context=where,
            seed=seed,
        ),
        metadata=acting(people.ann),
        timeout=10,
    )
    return response


async def test_water_when_hot_diet_soda_for_the_soda_drinker(
    served: tuple[Replica, People],
) -> None:
    one, people = served
    hot = await decide(one, people, "p-hot", context(34.0), seed=7)
    assert (hot.model_name, hot.model_version, hot.fallback) == ("drinks", "1", False)
    assert hot.model_stage == STAGE.MODEL_STAGE_CHAMPION
    assert {a.action_id for a in hot.actions} == {"water", "diet_soda"}
    assert best(hot) == "water"  # by score: a seed may move an explored action first
    first = next(a for a in hot.actions if a.action_id == "water")
    assert first.attributes["product"] == "water"
    assert [a.rank for a in hot.actions] == [1, 2]
    assert first.score == pytest.approx(
        first.propensity * first.value * first.context_weight * first.lever
    )
    assert first.context_weight == pytest.approx(1.2)
    assert any(r.startswith("model drinks 1") for r in first.reasons)
    assert "eligible: context.stock.water > 0" in first.reasons

    cool = await decide(one, people, "p-soda", context(12.0), seed=7)
    assert best(cool) == "diet_soda"
    assert cool.decision_id != hot.decision_id


async def test_out_of_stock_and_too_young_are_left_out_with_reasons(
    served: tuple[Replica, People],
) -> None:
    one, people = served
    dry = await decide(one, people, "p-hot", context(34.0, water=0))
    assert [a.action_id for a in dry.actions] == ["diet_soda"]
    (excluded,) = dry.excluded
    assert excluded.action_id == "water"
    assert excluded.reasons[0].startswith("ineligible: context.stock.water > 0 (false)")

    kid = await decide(one, people, "p-kid", context(20.0))
    assert [a.action_id for a in kid.actions] == ["water"]
    assert [e.action_id for e in kid.excluded] == ["diet_soda"]


async def test_the_same_request_and_seed_give_the_same_answer(
    served: tuple[Replica, People],
) -> None:
    one, people = served
    answers = [await decide(one, people, "p-hot", context(22.0), seed=s) for s in (5, 5, 6)]
    ranked = [[(a.action_id, a.score, a.explored) for a in r.actions] for r in answers]
    assert ranked[0] == ranked[1]


async def test_a_retry_gets_the_first_decision(served: tuple[Replica, People]) -> None:
    one, people = served
    request = pb.DecideRequest(
        request_id=str(uuid.uuid4()), profile_id="p-hot", placement="drinks", context=context(30)
    )
    first = await one.stub.Decide(request, metadata=acting(people.ann), timeout=10)
    again = await one.stub.Decide(request, metadata=acting(people.ann), timeout=10)
    assert again == first


async def test_capped_actions_are_never_returned(served: tuple[Replica, People]) -> None:
    one, people = served
    seen = []
    for _ in range(5):
        answer = await decide(one, people, "p-soda", context(12.0))
        seen.append([a.action_id for a in answer.actions])
    assert sum("diet_soda" in s for s in seen) == 3  # max_per_profile: 3
    assert seen[3:] == [["water"], ["water"]]
    last = await decide(one, people, "p-soda", context(12.0))
    reasons = {e.action_id: list(e.reasons) for e in last.excluded}
    assert reasons["diet_soda"] == ["capped_per_profile: returned 3 of 3 times to this profile"]


async def test_an_unknown_placement_ranks_by_value_without_a_model(
    served: tuple[Replica, People],
) -> None:
    one, people = served
    answer = await one.stub.Decide(
        pb.DecideRequest(profile_id="p-hot", placement="elsewhere", max_actions=5),
        metadata=acting(people.ann),
        timeout=10,
    )
    assert answer.fallback and not answer.model_version and not answer.actions
    assert {e.action_id for e in answer.excluded} == {"water", "diet_soda"}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"profile_id": "", "placement": "drinks"}, "profile_id"),
        ({"profile_id": "p", "placement": "Bad Place"}, "placement"),
        ({"profile_id": "p", "placement": "drinks", "max_actions": 99}, "max_actions"),
        ({"profile_id": "p", "placement": "drinks", "request_id": "nope"}, "request_id"),
    ],
)
async def test_a_bad_request_names_its_field(
    served: tuple[Replica, People], request_fields: dict[str, object], field: str
) -> None:
    one, people = served
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await one.stub.Decide(
            pb.DecideRequest(**request_fields),  # type: ignore[arg-type]
            metadata=acting(people.ann),
            timeout=10,
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (bad.value.details() or "")


async def test_outcomes_join_their_decision(served: tuple[Replica, People]) -> None:
    one, people = served
    answer = await decide(one, people, "p-hot", context(34.0))
    await one.log.flush()

    async def outcome(action: str, kind: int) -> bool:
        response = await one.stub.RecordOutcome(
            pb.RecordOutcomeRequest(
                request_id=str(uuid.uuid4()),
                decision_id=answer.decision_id,
                action_id=action,
                outcome=kind,  # type: ignore[arg-type]
            ),
            metadata=acting(people.ann),
            timeout=10,
        )
        return bool(response.recorded)

    assert await outcome("water", decisions_pb2.DECISION_OUTCOME_CLICKED)
    assert not await outcome("water", decisions_pb2.DECISION_OUTCOME_IMPRESSION)  # lighter
    assert await outcome("water", decisions_pb2.DECISION_OUTCOME_CONVERTED)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await outcome("lemonade", decisions_pb2.DECISION_OUTCOME_CLICKED)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_shadow_models_scores_are_in_the_decision_log(
    served: tuple[Replica, People], service_db: Database
) -> None:
    one, people = served
    columns = training.drinks_placement().features.columns
    await register(one.stub, people.ann, "drinks", "2", DRINKS_MODEL, columns)
    await promote(one.stub, people, "drinks", "2", STAGE.MODEL_STAGE_SHADOW)
    answer = await decide(one, people, "p-hot", context(34.0))
    assert answer.model_version == "1"  # a shadow is never acted on
    await one.log.flush()
    with service_db.engine.connect() as connection:
        payload = connection.execute(
            select(outbox.c.payload).where(
                outbox.c.type == decisions_pb2.DecisionMade.DESCRIPTOR.full_name,
                outbox.c.subject_ref == answer.decision_id,
            )
        ).scalar_one()
    made = decisions_pb2.DecisionMade.FromString(payload)
    assert made.context == context(34.0)  # the request's context as it was sent
    shadow = {s.action_id: list(s.scores) for s in made.shadow_scores}
    assert set(shadow) == {a.action_id for a in answer.actions}
    for action in answer.actions:
        [score] = shadow[action.action_id]
        assert (score.version, score.stage) == ("2", STAGE.MODEL_STAGE_SHADOW)
        assert score.score == pytest.approx(action.propensity)  # the same file
