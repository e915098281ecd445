"""A looping journey's decide step over real NATS and the SQL timer store: each visit asks
the decision service under its own request id (run + step + visit, carried in the step's
timer), so it is decided anew instead of getting the first decision back."""

from __future__ import annotations

import functools
from pathlib import Path

from nats.js import JetStreamContext

from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import ingested, publish_journey
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually

LOOP = """
journey: offer-loop
owner: growth-team
description: Asks for an offer, rests a second, asks again.
entry: {event: carted}
steps:
  - id: pick
    decide: {placement: offer, timeout: 5s}
    paths: {discount: rest}
    fallback: rest
  - id: rest
    wait: {duration: 1s}
    next: pick
"""


async def test_each_visit_of_a_looping_decide_step_is_decided_anew(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    directory.add(ProfileView(tenant, "p-1", {}, {}), "email:p1@x.org")
    decider = FakeDecider()
    decider.action = "discount"
    app = functools.partial(build, directory=directory, decider=decider)
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        publish_journey(runtime, tenant, LOOP)
        await publish(js, ingested(tenant, "carted", "p1@x.org"))

        async def three_visits() -> set[str]:
            # a retried prepare of one visit would repeat its id: count the distinct ones
            asked = set(decider.request_ids)
            assert len(asked) >= 3, decider.request_ids
            return asked

        await eventually(three_visits, timeout=60)
