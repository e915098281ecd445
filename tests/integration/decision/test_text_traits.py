"""A profile's text trait drives a one-hot feature in Decide over gRPC: identity's
ProfileUpdated through JetStream to the projection and the replica's cache, and gone once
identity forgets the person. A sealed (personal) trait never becomes a feature."""

from __future__ import annotations

import math
import uuid

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from onnx import TensorProto, helper

from layercake.decision.v1 import decision_service_pb2 as pb
from services.decision import catalog, handlers
from services.decision.bootstrap import PROJECTIONS
from services.decision.consumers.profiles import profiles_consumer
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.errors import NotFound
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.store.database import Database
from services.kernel.store.records import OutboxMessage
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.decision.catalogs import publish_catalog
from tests.integration.decision.model_replicas import (
    STAGE,
    People,
    Replica,
    acting,
    promote,
    register,
    replicas,
)
from tests.integration.harness import consume, isolated, publish
from tests.polling import eventually
from tests.profile_events import as_outbox, profile_forgotten, profile_updated

PLANS = catalog.read_catalog(
    """
owner: growth-team
placement:
  placement_id: upsell
  model_name: plans
  features:
    - name: plan
      source: features.trait_plan
      kind: FEATURE_TRANSFORM_KIND_ONE_HOT
      categories: [gold, free]
actions:
  - {action_id: upgrade, placements: [upsell], value: 1.0}
"""
)
COLUMNS = ("plan:gold", "plan:free")
WEIGHTS = (2.0, -2.0)  # the logit: gold +2, free -2, neither 0


def propensity(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit))


def plans_model() -> bytes:
    """A logistic regression over the one-hot columns: probabilities FP32 [batch, 2]."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["yes"]),
        helper.make_node("Sub", ["one", "yes"], ["not"]),
        helper.make_node("Concat", ["not", "yes"], ["probabilities"], axis=1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, len(COLUMNS)])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [len(WEIGHTS), 1], list(WEIGHTS))
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(nodes, "plans", [x], [out], initializer=[w, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    return bytes(model.SerializeToString())


async def decide(one: Replica, people: People, profile_id: str) -> float:
    answer = await one.stub.Decide(
        pb.DecideRequest(request_id=str(uuid.uuid4()), profile_id=profile_id, placement="upsell"),
        metadata=acting(people.ann),
        timeout=10,
    )
    assert (answer.model_name, answer.fallback) == ("plans", False)
    (action,) = answer.actions
    return float(action.propensity)


async def test_a_text_trait_feeds_a_one_hot_feature_until_the_person_is_forgotten(
    service_db: Database, nats_client: Client, js: JetStreamContext
) -> None:
    people = People(random_id("t-"))
    tenant = people.ann.tenant_id
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    publish_catalog(units, people, PLANS)
    projection = ConsumerRunner(
        isolated(profiles_consumer(), tenant), js, service_db, units, max_deliver=1
    )

    async def identity_says(*messages: OutboxMessage) -> None:
        for message in messages:
            await publish(js, message)
        assert {r.outcome for r in await consume(projection, len(messages))} == {Outcome.APPLIED}

    async with replicas(service_db, nats_client, 1) as (one,):
        await register(one.stub, people.ann, "plans", "1", plans_model(), COLUMNS)
        await promote(one.stub, people, "plans", "1", STAGE.MODEL_STAGE_CHAMPION)
        gold = profile_updated(tenant, "p-gold", 1, traits={"plan": "gold"})
        gold.sealed_traits["plan_secret"].sealed_json_value = b"nonce+ciphertext"
        free = profile_updated(tenant, "p-free", 1, traits={"plan": "free"})
        await identity_says(as_outbox(gold), as_outbox(free))

        assert await decide(one, people, "p-gold") == pytest.approx(propensity(2.0), abs=1e-6)
        assert await decide(one, people, "p-free") == pytest.approx(propensity(-2.0), abs=1e-6)
        assert await decide(one, people, "p-nobody") == pytest.approx(propensity(0.0), abs=1e-6)
        with units() as uow:
            kept = handlers.get_features(uow, tenant, "p-gold").values
        assert kept["trait_plan"] == "gold" and "trait_plan_secret" not in kept

        await identity_says(profile_forgotten(tenant, "p-gold"))

        async def forgotten() -> bool:  # the replica drops it once the broadcast reaches it
            return await decide(one, people, "p-gold") == pytest.approx(propensity(0.0), abs=1e-6)

        assert await eventually(forgotten)
        with units() as uow, pytest.raises(NotFound):
            handlers.get_features(uow, tenant, "p-gold")
        assert await decide(one, people, "p-free") == pytest.approx(propensity(-2.0), abs=1e-6)
