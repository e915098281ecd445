"""Journey priority over real NATS and the SQL send ledger: when two journeys' sends of equal
value contest a frequency cap's last slot, the higher-priority journey's send goes out,
though it asked later, and the other is suppressed with its reason recorded."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext

from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import build
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.domain.frequency_caps import SendState
from services.orchestrator.domain.instances.profiles import ProfileView
from tests.conftest import random_id
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import ingested, publish_journey, stats_of
from tests.orchestrator_fakes import FakeDecider, FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

EPOCH = datetime.min.replace(tzinfo=UTC)
LOW = """
journey: a-low
owner: growth-team
description: Mails carts.
entry: {event: carted}
priority: 1
steps:
  - id: mail
    send: {channel: email, template: low}
    next: done
  - id: done
    exit: {}
"""
HIGH = """
journey: z-high
owner: growth-team
description: Mails carts.
entry: {event: carted}
priority: 5
steps:
  - id: pause
    wait: {duration: 1s}
    next: mail
  - id: mail
    send: {channel: email, template: high}
    next: done
  - id: done
    exit: {}
"""


async def test_the_higher_priority_journey_wins_a_caps_last_slot(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    directory.add(
        ProfileView(tenant, "p-1", {"email": "p1@x.org"}, {"email_marketing": True}),
        "email:p1@x.org",
    )
    # one mail a day; the last slot is contested for 10 s: both sends ask within it
    config = OrchestratorConfig(frequency_caps="email=1/1d", cap_hold=10)
    app = functools.partial(build, config=config, directory=directory, decider=FakeDecider())
    async with running("orchestrator", app, nats_server.url, tmp_path) as runtime:
        assert runtime.server is not None and runtime.context is not None
        for yaml_text in (LOW, HIGH):
            publish_journey(runtime, tenant, yaml_text)
        await publish(js, ingested(tenant, "carted", "p1@x.org"))
        async with signed_channel(f"127.0.0.1:{runtime.server.port}") as channel:
            stub = pb_grpc.OrchestratorServiceStub(channel)

            async def settled() -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
                high, low = (
                    await stats_of(stub, tenant, "z-high"),
                    await stats_of(stub, tenant, "a-low"),
                )
                assert high.get(("", "exited")) == low.get(("", "exited")) == 1
                return high, low

            high, low = await eventually(settled, timeout=60)
        with runtime.context.uow() as uow:
            entries = uow.send_ledger.capping(tenant, "p-1", EPOCH)
    assert high[("mail", "sent")] == 1
    assert low[("mail", "suppressed:frequency_cap")] == 1 and ("mail", "sent") not in low
    [lost] = [e for e in entries if e.journey_id == "a-low"]
    assert lost.state is SendState.SUPPRESSED and lost.priority == 1
    assert lost.reason.startswith("frequency_cap: cap email=1/86400s")
