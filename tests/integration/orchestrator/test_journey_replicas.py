"""Two orchestrator replicas on one PostgreSQL database and one NATS: every wait fires
once and every send goes out once, whichever replica consumed the entry or fired the timer."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.orchestrator.v1 import orchestrator_service_pb2_grpc as pb_grpc
from services.kernel.messaging.nats_server import NatsServer
from services.orchestrator.bootstrap import MIGRATIONS, build
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.store.tables import send_ledger
from tests.conftest import random_id, sql_database
from tests.integration.harness import publish, running
from tests.integration.orchestrator.journey_support import (
    ingested,
    publish_journey,
    stats_of,
)
from tests.orchestrator_fakes import FakeDirectory
from tests.polling import eventually
from tests.signing import signed_channel

pytestmark = pytest.mark.postgres

PEOPLE = 40
JOURNEY = """
journey: welcome-back
description: A wait, then a send, for the replica test.
owner: growth-team
entry: {event: signed_up}
steps:
  - id: pause
    wait: {duration: 1s}
    next: mail
  - id: mail
    send: {channel: email, template: welcome-back}
    next: done
  - id: done
    exit: {}
"""


async def test_two_replicas_on_postgresql_fire_each_wait_once_and_send_once(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    tenant = random_id("t")
    directory = FakeDirectory()
    for i in range(PEOPLE):
        consent = {"email_marketing": True}
        directory.add(ProfileView(tenant, f"p-{i}", {}, consent), f"email:p{i}@example.com")
    app = functools.partial(build, directory=directory)
    with sql_database("postgres", tmp_path, MIGRATIONS) as db:
        env = {"LAYERCAKE_ORCHESTRATOR_DATABASE_URL": db.url}
        async with (
            running("orchestrator", app, nats_server.url, tmp_path / "a", env) as first,
            running("orchestrator", app, nats_server.url, tmp_path / "b", env),
        ):
            publish_journey(first, tenant, JOURNEY)
            for i in range(PEOPLE):
                await publish(js, ingested(tenant, "signed_up", f"p{i}@example.com"))
            assert first.server is not None
            async with signed_channel(f"127.0.0.1:{first.server.port}") as channel:
                stub = pb_grpc.OrchestratorServiceStub(channel)

                async def finished() -> dict[tuple[str, str], int]:
                    counts = await stats_of(stub, tenant, "welcome-back")
                    assert counts.get(("", "exited:completed")) == PEOPLE, counts
                    return counts

                counts = await eventually(finished, timeout=60)
        with db.transaction() as session:  # the send service's ledger: one send per person
            # (its renderer then suppresses them: this test publishes no template)
            rows = session.execute(
                select(send_ledger.c.profile_id).where(send_ledger.c.tenant_id == tenant)
            ).scalars()
    assert counts[("mail", "sent")] == counts[("", "entered")] == PEOPLE  # one fire each
    assert sorted(rows) == sorted(f"p-{i}" for i in range(PEOPLE))
