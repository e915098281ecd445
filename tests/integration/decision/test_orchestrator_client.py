"""The journey's decide step asks the real decision service: `DecisionClient` against a
decision replica that, as deployed, answers only calls signed with the internal secret."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from google.protobuf import json_format
from nats.aio.client import Client

from services.kernel.errors import NotFound, Unauthenticated
from services.kernel.rpc.signing import InternalCalls
from services.kernel.store.database import Database
from services.orchestrator.adapters.decision import DecisionClient
from services.orchestrator.domain.instances.steps import RunTimer
from services.orchestrator.timers import decide
from tests.integration.decision.model_replicas import People, Replica, replica
from tests.integration.decision.test_drinks_example import context, served  # noqa: F401
from tests.signing import INTERNAL

STEP = str(uuid.uuid4())  # one run's decide step


@pytest.fixture
async def signed_replica(
    served: tuple[Replica, People],  # noqa: F811 (the drinks catalog and champion)
    service_db: Database,
    nats_client: Client,
) -> AsyncIterator[tuple[str, People]]:
    _, people = served
    async with replica(service_db, nats_client, internal=INTERNAL) as deployed:
        yield deployed.addr, people


async def test_decide_answers_the_best_action_and_the_same_one_for_a_retried_step(
    signed_replica: tuple[str, People],
) -> None:
    addr, people = signed_replica
    client = DecisionClient(addr, INTERNAL)
    tenant = people.ann.tenant_id
    try:
        cool = json_format.MessageToDict(context(12.0))
        first = await client.decide(tenant, "p-soda", "drinks", 10.0, STEP, cool)
        again = await client.decide(tenant, "p-soda", "drinks", 10.0, STEP, cool)
        kid = await client.decide(tenant, "p-kid", "drinks", 10.0, str(uuid.uuid4()), cool)
    finally:
        await client.close()
    assert first.action in {"water", "diet_soda"}
    assert first.product == first.attributes["product"]
    assert any(r.startswith("model drinks 1") for r in first.reasons)
    assert (again.action, again.score) == (first.action, first.score)
    assert kid.action == "water"  # diet soda is not for children: the only eligible action


async def test_an_unknown_placement_is_not_found_and_a_wrong_secret_is_refused(
    signed_replica: tuple[str, People],
) -> None:
    addr, people = signed_replica
    tenant = people.ann.tenant_id
    client = DecisionClient(addr, INTERNAL)
    forger = DecisionClient(addr, InternalCalls(b"not-the-secret-0123456789abcdef0123"))
    try:
        with pytest.raises(NotFound):
            await client.decide(tenant, "p-hot", "no-such-placement", 10.0, str(uuid.uuid4()), {})
        with pytest.raises(Unauthenticated):
            await forger.decide(tenant, "p-hot", "drinks", 10.0, str(uuid.uuid4()), {})
    finally:
        await client.close()
        await forger.close()


async def test_a_journeys_decide_step_decides_in_its_entry_events_context(
    signed_replica: tuple[str, People],
) -> None:
    """The run's context (here: no water at the store) reaches the decision's eligibility
    rules through the timer's prepare step, as a journey's decide step asks."""
    addr, people = signed_replica
    client = DecisionClient(addr, INTERNAL)
    tenant = people.ann.tenant_id
    no_water = json_format.MessageToDict(context(31.0, water=0))
    no_soda = json_format.MessageToDict(context(31.0, soda=0))
    try:
        runs = [
            RunTimer("drinks-journey", "p-soda", run, "pick", "decide", "drinks", 10.0, "", ctx)
            for run, ctx in ((1, no_water), (2, no_soda))
        ]
        dry, flat = [await decide(client, tenant, run) for run in runs]
    finally:
        await client.close()
    assert dry.decision is not None and dry.decision.action == "diet_soda"
    assert flat.decision is not None and flat.decision.action == "water"
