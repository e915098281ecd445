"""Text and boolean traits the projection stamped but did not keep (before it kept text)
are restored from a replay of identity's stream; a value set since is left alone, and a
second run restores nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from typer.testing import CliRunner

from layercake.events.v1.identity_events_pb2 import ProfileUpdated
from services.decision import handlers
from services.decision.admin import app
from services.decision.bootstrap import PROJECTIONS
from services.decision.domain.features import ProfileFeatures, features_after
from services.decision.refill import refill_features
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.clock import SystemClock
from services.kernel.messaging.connection import connect
from services.kernel.messaging.envelope import headers_for, open_envelope
from services.kernel.messaging.identity_feed import profile_change
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.messaging.streams import ensure_streams
from services.kernel.profile_changes import ProfileChange
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import Database
from services.kernel.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import random_id
from tests.integration.harness import publish
from tests.profile_events import AT, as_outbox, profile_updated


def numbers_only(features: ProfileFeatures) -> ProfileFeatures:
    """The features as the projection kept them before text: numbers only, every part
    stamped."""
    values = {k: v for k, v in features.values.items() if type(v) is float}
    return replace(features, values=values)


async def test_a_replay_restores_the_text_and_booleans_dropped_and_nothing_newer(
    service_db: Database, js: JetStreamContext
) -> None:
    tenant = random_id("t-")
    units = UnitOfWorkFactory(
        service_db.sessions, SystemClock(), PROJECTIONS, kind=SqlDecisionUnitOfWork
    )
    layer = ServiceLayer(service_db, units)
    old = profile_updated(tenant, "p-old", 1, traits={"plan": "gold", "vip": True, "visits": 3})
    first = profile_updated(tenant, "p-moved", 1, traits={"plan": "free", "city": "Oslo"})
    since = profile_updated(tenant, "p-moved", 2, traits={"plan": "silver"})
    unknown = profile_updated(tenant, "p-unknown", 1, traits={"plan": "gold"})
    for message in (old, first, since, unknown):
        await publish(js, as_outbox(message))

    def change(message: ProfileUpdated) -> ProfileChange:
        outbox = as_outbox(message)
        return profile_change(
            open_envelope(outbox.subject, headers_for(outbox, AT), outbox.payload)
        )

    with units() as uow:  # the projection as it stood before it kept text and booleans
        for message in (old, first):
            c = change(message)
            uow.features.merge(
                tenant, c.profile_id, lambda held, c=c: numbers_only(features_after(held, c, AT))
            )
        c = change(since)  # set after text was kept: the newer value is held
        uow.features.merge(tenant, "p-moved", lambda held, c=c: features_after(held, c, AT))
        uow.commit()
    with units() as uow:
        assert "trait_plan" not in handlers.get_features(uow, tenant, "p-old").values

    assert await refill_features(js, layer, tenant) == (4, 2)

    with units() as uow:
        restored = handlers.get_features(uow, tenant, "p-old")
        moved = handlers.get_features(uow, tenant, "p-moved")
        assert uow.features.get(tenant, "p-unknown") is None  # identity's, never projected
    assert restored.values == {
        "trait_plan": "gold",
        "trait_vip": True,
        "trait_visits": 3.0,
        "trait_count": 3.0,
        "identifier_count": 0.0,
    }
    assert restored.profile_version == 1
    assert moved.values["trait_plan"] == "silver"  # set since: the replayed "free" is older
    assert moved.values["trait_city"] == "Oslo"
    assert await refill_features(js, layer, tenant) == (4, 0)


def test_the_command_reads_the_tenants_part_of_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nats_server: NatsServer
) -> None:
    tenant = random_id("t-")

    async def identity_published() -> None:
        nc = await connect(nats_server.url, "tests-refill")
        try:
            await ensure_streams(nc.jetstream())
            changed = profile_updated(tenant, "p-1", 1, traits={"plan": "gold"})
            await publish(nc.jetstream(), as_outbox(changed))
        finally:
            await nc.close()

    asyncio.run(identity_published())
    monkeypatch.setenv("LAYERCAKE_DECISION_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    monkeypatch.setenv("LAYERCAKE_NATS_URL", nats_server.url)
    done = CliRunner().invoke(app, ["refill-features", "--tenant", tenant])
    assert done.exit_code == 0, done.output
    assert "read 1 messages of identity's stream; 0 changes restored values" in done.output
    refused = CliRunner().invoke(app, ["refill-features", "--tenant", "Not A Tenant"])
    assert refused.exit_code == 2 and "tenant" in refused.output
