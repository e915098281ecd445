"""An ingested event identity has not resolved yet (a new sign-up, identity behind or down)
waits in the orchestrator's ingest consumer, held and asked again shortly: the person
enters as soon as identity knows them, the rest of the batch is not held up, and no
outage longer than the consumer's whole redelivery schedule dead-letters the entry."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext

from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import SystemClock
from services.kernel.errors import NotReady
from services.kernel.messaging import subjects
from services.kernel.messaging.consumer import ConsumerRunner
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator.bootstrap import journey_engine
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.consumers.ingest import ingest_consumer
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from tests.conftest import random_id
from tests.integration.harness import publish
from tests.integration.kernel.support import subject_counts
from tests.integration.orchestrator.journey_support import ingested, publish_journey_in
from tests.orchestrator_fakes import FakeDirectory
from tests.polling import eventually

SIGNUP = """
journey: welcome
description: Every new sign-up gets a welcome.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: later
    wait: {duration: 1d}
    next: done
  - id: done
    exit: {}
"""


class LaggingDirectory(FakeDirectory):
    """Identity behind: it knows only the profiles added so far, and while `down` it
    answers nothing at all; it counts the questions about each reference."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[str] = Counter()
        self.down = False

    async def find(self, tenant_id: str, profile_ref: str) -> ProfileView | None:
        self.asked[profile_ref] += 1
        if self.down:
            raise NotReady("identity did not answer")  # as the real directory says it
        return await super().find(tenant_id, profile_ref)


async def test_a_new_person_enters_once_identity_resolves_them_however_long_it_lagged(
    js: JetStreamContext, service_db: Database
) -> None:
    tenant = random_id("t")
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), [AssetProjection()], kind=SqlOrchestratorUnitOfWork
    )
    publish_journey_in(units, tenant, SIGNUP)
    directory = LaggingDirectory()
    directory.add(ProfileView(tenant, "p-bob"), "email:bob@example.com")
    for email in ("ann@example.com", "bob@example.com"):  # one batch: ann unknown yet
        await publish(js, ingested(tenant, "signed_up", email))
    spec = ingest_consumer(
        journey_engine(OrchestratorConfig()), directory, ServiceLayer(service_db, units)
    )
    spec = dataclasses.replace(
        spec, durable=random_id("orchestrator-"), filter_subject=subjects.ingest(tenant)
    )
    # an ack wait and a redelivery schedule (1 s, then 2 s) far shorter than the outage
    runner = ConsumerRunner(
        spec, js, service_db, units, max_deliver=2, ack_wait=1.0, wait_delay=0.05
    )
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))

    def entered(profile_id: str) -> bool:
        with units() as uow:
            return bool(uow.instance_records.of_profile(tenant, profile_id))

    def asked_ann(times: int) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            return directory.asked["email:ann@example.com"] >= times

        return probe

    async def bob_entered() -> bool:
        return entered("p-bob")

    async def ann_entered() -> bool:
        return entered("p-ann")

    try:
        # bob enters while ann's event waits, asked again and again
        await eventually(bob_entered)
        await eventually(asked_ann(3))
        assert not entered("p-ann")
        directory.down = True  # then identity goes down past every redelivery of the schedule
        await eventually(asked_ann(10), timeout=60)
        info = await (await runner.subscribe()).consumer_info()
        assert info.num_redelivered == 0 and info.num_ack_pending == 1  # held, never given up
        directory.add(ProfileView(tenant, "p-ann"), "email:ann@example.com")
        directory.down = False  # identity is back and has resolved her
        await eventually(ann_entered)
    finally:
        stop.set()
        await running
    dlq = subjects.dead_letter(tenant, spec.durable)
    assert await subject_counts(js, "DEADLETTER", dlq) == {}
    with units() as uow:
        counts = {
            (c.step_id, c.metric): c.count for c in uow.instance_records.counts(tenant, "welcome")
        }
    assert counts[("", "entered")] == 2
