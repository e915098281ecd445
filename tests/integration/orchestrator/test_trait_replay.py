"""Profiles identity reported before the orchestrator learnt trait names: the replay of
identity's stream (`python -m services.orchestrator replay`) learns them, so templates
reading those traits and computed traits are accepted at submit; another tenant's traits
stay its own, and a second replay learns nothing new."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2 as ie
from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.clock import SystemClock
from services.kernel.errors import FailedPrecondition
from services.kernel.messaging.connection import connect
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from services.orchestrator.domain.templates import with_variables
from services.orchestrator.store.tables import trait_names
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from services.orchestrator.template_checks import check_template_traits
from services.orchestrator.trait_replay import relearn_traits
from tests.conftest import random_id
from tests.integration.harness import publish
from tests.integration.orchestrator.journey_support import identity_event
from tests.profile_events import profile_updated

TEMPLATE = with_variables(
    pb.Template(
        template_id="welcome",
        channel="email",
        subject="Hi {{ profile.traits.first_name }}",
        body="{{ profile.traits.plan }}: {{ profile.computed.orders_30d }} orders this month",
    )
)
KNOWN = {"profile.traits.first_name", "profile.traits.plan", "profile.computed.orders_30d"}


async def identity_reported(js: JetStreamContext, tenant: str, other: str) -> None:
    """What identity published about the tenants' profiles: a personal trait (its name
    only), a trait, a computed trait of an empty window, and another tenant's trait."""
    ann = profile_updated(tenant, "p-1", 1, traits={"plan": "gold"})
    ann.sealed_traits["first_name"].CopyFrom(common_pb2.SealedTrait(sealed_json_value=b"x"))
    orders = ie.ComputedTraitChanged(
        tenant_id=tenant, profile_id="p-1", name="orders_30d", version=2
    )
    theirs = profile_updated(other, "p-9", 1, traits={"shoe_size": 42})
    await publish(js, identity_event(tenant, "profile_updated", ann))
    await publish(js, identity_event(tenant, "computed_trait_changed", orders))
    await publish(js, identity_event(other, "profile_updated", theirs))


async def test_a_replay_of_identitys_stream_lets_templates_read_earlier_profiles_traits(
    service_db: Database, nats_server: NatsServer, js: JetStreamContext
) -> None:
    tenant, other = random_id("t"), random_id("t")
    await identity_reported(js, tenant, other)
    units = UnitOfWorkFactory(service_db.sessions, SystemClock(), kind=SqlOrchestratorUnitOfWork)
    with units() as uow, pytest.raises(FailedPrecondition) as refused:  # learnt nothing yet
        check_template_traits(uow, tenant, TEMPLATE)
    assert [v.field for v in refused.value.violations] == ["subject", "body", "body"]

    assert await relearn_traits(nats_server.url, units) >= 3  # every tenant's messages

    with units() as uow:
        check_template_traits(uow, tenant, TEMPLATE)
        assert uow.trait_names.of_tenant(tenant) == KNOWN
        assert uow.trait_names.of_tenant(other) == {"profile.traits.shoe_size"}
    await relearn_traits(nats_server.url, units)  # again: names known stay as they are
    with units() as uow:
        assert uow.trait_names.of_tenant(tenant) == KNOWN


def test_the_replay_command_relearns_the_traits(tmp_path: Path, nats_server: NatsServer) -> None:
    tenant, other = random_id("t"), random_id("t")

    async def reported() -> None:
        nc = await connect(nats_server.url, "tests-trait-replay")
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            await identity_reported(js, tenant, other)
        finally:
            await nc.close()

    asyncio.run(reported())
    environ = os.environ | {
        "LAYERCAKE_STATE_DIR": str(tmp_path),
        "LAYERCAKE_NATS_URL": nats_server.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.orchestrator", "replay"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    db = Database(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    try:
        with db.transaction() as s:
            t = trait_names.c
            names = set(s.execute(select(t.name).where(t.tenant_id == tenant)).scalars())
    finally:
        db.dispose()
    assert names == KNOWN
