"""The orchestrator's ingest consumer applies a fetched batch in one transaction, reading
what its events need in bulk first: events of one person in one batch still see each
other's effects, in order (an entry, then its goal), as they would one batch apart."""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext
from sqlalchemy import select

from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerRunner, Outcome
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.kernel.timers.schema import timers
from services.orchestrator.bootstrap import journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.consumers.ingest import ingest_consumer
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import random_id
from tests.integration.harness import consume, publish
from tests.integration.orchestrator.journey_support import ingested, publish_journey_in
from tests.orchestrator_fakes import FakeDirectory

CART = """
journey: cart
description: People who fill a cart and do not order within a day.
owner: growth-team
entry: {event: cart_updated}
reentry: {policy: never}
goals: [{event: order_placed}]
steps:
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


async def test_one_batch_enters_converts_and_refuses_the_same_person_in_order(
    js: JetStreamContext, service_db: Database
) -> None:
    tenant = random_id("t")
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )
    publish_journey_in(units, tenant, CART)
    directory = FakeDirectory()
    for name in ("ann", "bob"):
        directory.add(ProfileView(tenant, f"p-{name}"), f"email:{name}@example.com")
    for name, email in (
        ("cart_updated", "ann"),
        ("cart_updated", "bob"),
        ("order_placed", "ann"),  # ann's goal, in the batch that entered her
        ("cart_updated", "ann"),  # entered before: `never` keeps her out
    ):
        await publish(js, ingested(tenant, name, f"{email}@example.com"))
    spec = ingest_consumer(
        journey_engine(OrchestratorConfig()), directory, ServiceLayer(service_db, units)
    )
    spec = dataclasses.replace(
        spec, durable=random_id("orchestrator-"), filter_subject=subjects.ingest(tenant)
    )
    results = await consume(ConsumerRunner(spec, js, service_db, units), 4)

    assert [r.outcome for r in results] == [Outcome.APPLIED] * 4
    with units() as uow:
        ann = uow.instance_records.of_profile(tenant, "p-ann")
        bob = uow.instance_records.of_profile(tenant, "p-bob")
        counts = {
            (c.step_id, c.metric): c.count for c in uow.instance_records.counts(tenant, "cart")
        }
        waiting = uow.session.execute(select(timers.c.timer_id).where(timers.c.tenant_id == tenant))
        assert list(waiting.scalars()) == ["j/cart/p-bob"]  # ann's wait went with her goal
    assert [(r.run, r.active, r.exit_reason) for r in ann] == [(1, False, "converted")]
    assert [(r.run, r.active, r.step_id) for r in bob] == [(1, True, "later")]
    assert counts[("", "entered")] == 2 and counts[("", "converted")] == 1
