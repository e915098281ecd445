"""A tenant's send settings: the RPCs (validation naming fields, scopes, the recorded actor,
idempotent retries) on SQLite and PostgreSQL, and a change reaching a running service's
sends with no restart, by the broadcast alone."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from layercake.orchestrator.v1 import orchestrator_service_pb2 as pb
from layercake.orchestrator.v1 import send_settings_pb2 as ss
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.principals import Role
from services.kernel.protobuf import from_timestamp
from services.orchestrator.bootstrap import build
from services.orchestrator.config import OrchestratorConfig
from services.orchestrator.domain.guards import QuietHours
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.domain.send_settings import QuietSetting, SendSettings
from services.orchestrator.send_settings import update_send_settings
from services.orchestrator.store.tables import send_ledger
from tests.conftest import random_id
from tests.contracts.asset_harness import ANN, CAT, OPS, person
from tests.integration.harness import publish, running, violations
from tests.integration.orchestrator.journey_support import ingested, publish_journey
from tests.integration.orchestrator.people import People
from tests.orchestrator_fakes import FakeDirectory
from tests.polling import eventually

DAY = 86400


def caps(*found: tuple[str, int, int]) -> ss.FrequencyCaps:
    message = ss.FrequencyCaps()
    for channel, limit, seconds in found:
        cap = message.caps.add(channel=channel, limit=limit)
        cap.window.FromSeconds(seconds)
    return message


async def test_settings_are_validated_recorded_with_their_actor_and_read_back(
    people: People,
) -> None:
    bad = pb.UpdateSendSettingsRequest(
        settings=ss.SendSettings(
            frequency_caps=caps(("email", 0, DAY)),
            quiet_hours=ss.QuietHours(start="9pm", end="08:00"),
        ),
        request_id=str(uuid.uuid4()),
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await people(OPS).UpdateSendSettings(bad, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations(e.value)) == [
        "settings.frequency_caps.caps[0].limit",
        "settings.quiet_hours.start",
    ]
    untouched = await people(CAT).GetSendSettings(pb.GetSendSettingsRequest(), timeout=10)
    assert untouched.actor == "" and not untouched.settings.HasField("frequency_caps")
    assert untouched.effective.frequency_caps.caps  # the deployment's defaults

    good = pb.UpdateSendSettingsRequest(
        settings=ss.SendSettings(
            frequency_caps=caps(("email", 1, DAY), ("*", 2, 7 * DAY)),
            quiet_hours=ss.QuietHours(start="22:00", end="07:30", default_time_zone="Europe/Paris"),
        ),
        reason="fewer mails",
        request_id=str(uuid.uuid4()),
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:  # an editor may not change live sends
        await people(ANN).UpdateSendSettings(good, timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    changed = await people(OPS).UpdateSendSettings(good, timeout=10)
    assert await people(OPS).UpdateSendSettings(good, timeout=10) == changed  # a retry: once
    assert changed.settings == good.settings == changed.effective
    read = await people(CAT).GetSendSettings(pb.GetSendSettingsRequest(), timeout=10)
    assert read.settings == good.settings
    assert read.actor == f"person:{OPS.actor.id}" and from_timestamp(read.update_time)

    back = pb.UpdateSendSettingsRequest(settings=ss.SendSettings(), request_id=str(uuid.uuid4()))
    reset = await people(OPS).UpdateSendSettings(back, timeout=10)  # all back to the defaults
    assert reset.effective == untouched.effective


JOURNEY = """
journey: {journey_id}
description: One mail each time, for the settings test.
owner: growth-team
entry: {{event: poked}}
reentry: {{policy: always}}
steps:
  - id: mail
    send: {{channel: email, template: poke}}
    next: done
  - id: done
    exit: {{}}
"""


async def test_a_change_reaches_the_running_services_sends_without_a_restart(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    """The change is written to the store as another replica would (no local drop): only
    the broadcast tells this process, and its next send follows the new caps."""
    tenant, journey_id = random_id("t"), random_id("poke-")
    directory = FakeDirectory()
    directory.add(
        ProfileView(tenant, "p-1", {"email": "p1@x.org"}, {"email_marketing": True}),
        "email:p1@x.org",
    )
    config = OrchestratorConfig(frequency_caps="", cap_hold=0)  # nothing but quiet hours
    app = functools.partial(build, config=config, directory=directory)
    async with running("orchestrator", app, nats_server.url, tmp_path) as service:
        assert service.context is not None
        units = service.context.uow
        publish_journey(service, tenant, JOURNEY.format(journey_id=journey_id))

        def verdicts() -> list[str]:
            """Per send: `quiet` (delayed by quiet hours), or `passed` its guards (the
            renderer then finds no template: this test publishes none)."""
            with units() as uow:
                rows = uow.session.execute(
                    select(send_ledger.c.reason).where(send_ledger.c.tenant_id == tenant)
                )
                reasons = list(rows.scalars())
            return sorted("quiet" if r.startswith("quiet_hours") else "passed" for r in reasons)

        async def poke(sends: int) -> list[str]:
            await publish(js, ingested(tenant, "poked", "p1@x.org"))

            async def recorded() -> list[str]:
                found = verdicts()
                assert len(found) == sends, found
                return found

            return await eventually(recorded, timeout=20)

        assert await poke(1) == ["passed"]  # the deployment's: no quiet hours
        ops = person("ops", Role.OPERATOR, tenant=tenant)
        now = datetime.now(UTC)
        quiet = QuietHours((now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time())
        with units() as uow:  # another replica's change: this process's cache still holds
            update_send_settings(uow, ops, SendSettings(quiet=QuietSetting(quiet, "UTC")))
            uow.commit()

        async def held_back() -> list[str]:
            found = await poke(len(verdicts()) + 1)
            assert "quiet" in found, found  # the tenant's quiet hours, with no restart
            return found

        await eventually(held_back, timeout=30)
