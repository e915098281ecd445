"""Caps over two replicas sharing one database, each counting in memory: exact on one
replica however many decisions run at once, and on the other once the first replica's
decisions are in the log and their counters reached it (the guarantee `exposures` states)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from google.protobuf import struct_pb2
from nats.aio.client import Client

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import training
from services.decision.bootstrap import PROJECTIONS
from services.decision.domain.actions import Exposures
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
from tests.polling import eventually

CAP = 3  # diet_soda's max_per_profile in the drinks example


def cool() -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(
        {
            "channel": "kiosk",
            "weather": {"temperature_c": 12.0},
            "location": {"region": "coast"},
            "stock": {"water": 9, "diet_soda": 9},
        }
    )
    return found


@pytest.fixture
async def two(
    service_db: Database, nats_client: Client
) -> AsyncIterator[tuple[Replica, Replica, People]]:
    people = People(random_id("t-"))
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    publish_catalog(units, people)
    for profile in ("p-a", "p-b"):
        traits = {"age": 40, "sodas_30d": 6, "prefers_sugar_free": 1}
        set_traits(units, people.ann.tenant_id, profile, traits)
    columns = training.drinks_placement().features.columns
    async with replicas(service_db, nats_client, 2) as (a, b):
        await register(
            a.stub, people.ann, "drinks", "1", training.DRINKS_PATH.read_bytes(), columns
        )
        await promote(a.stub, people, "drinks", "1", STAGE.MODEL_STAGE_CHAMPION)
        await a.relay.flush()
        async def b_serves() -> object:  # the promotion reaches b through its broadcast
            return b.serving.live(people.ann.tenant_id, "drinks")

        await eventually(b_serves, interval=0.02)
        yield a, b, people


async def decide(one: Replica, people: People, profile: str) -> pb.DecideResponse:
    response: pb.DecideResponse = await one.stub.Decide(
        pb.DecideRequest(
            request_id=str(uuid.uuid4()), profile_id=profile, placement="drinks", context=cool()
        ),
        metadata=acting(people.ann),
        timeout=10,
    )
    return response


def sodas(answers: list[pb.DecideResponse]) -> int:
    return sum(any(a.action_id == "diet_soda" for a in r.actions) for r in answers)


async def test_one_replica_never_passes_a_cap_however_many_decide_at_once(
    two: tuple[Replica, Replica, People],
) -> None:
    a, _, people = two
    answers = await asyncio.gather(*(decide(a, people, "p-a") for _ in range(12)))
    assert sodas(list(answers)) == CAP
    capped = [list(e.reasons) for r in answers for e in r.excluded if e.action_id == "diet_soda"]
    reason = f"capped_per_profile: returned {CAP} of {CAP} times to this profile"
    assert capped == [[reason]] * (12 - CAP)  # the count exact, never one ahead


async def test_the_other_replica_holds_the_cap_once_the_counters_reached_it(
    two: tuple[Replica, Replica, People],
) -> None:
    a, b, people = two
    tenant = people.ann.tenant_id
    assert sodas([await decide(b, people, "p-b")]) == 1  # b now holds p-b's counters
    await b.log.flush()  # written (a replica sees another's decisions once they are)
    first = [await decide(a, people, "p-b") for _ in range(CAP - 1)]
    assert sodas(first) == CAP - 1  # a read the log: b's one decision is in it
    await a.log.flush()
    await a.relay.flush()
    async def counted() -> Exposures | None:  # a's batch reaches b as counters, not a read
        held = (await b.exposures.get(tenant, "p-b", ["diet_soda"]))["diet_soda"]
        return held if held.to_profile == CAP else None

    held = await eventually(counted, interval=0.02)
    assert held == Exposures(held.total, CAP, 0)
    after = [await decide(replica, people, "p-b") for replica in (b, a, b)]
    assert sodas(after) == 0
    for answer in after:
        reasons = {e.action_id: list(e.reasons) for e in answer.excluded}
        assert reasons["diet_soda"] == [
            f"capped_per_profile: returned {CAP} of {CAP} times to this profile"
        ]
