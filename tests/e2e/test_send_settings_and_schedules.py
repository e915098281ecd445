"""Through the gateway, as a partner's people do: a tenant's own send settings (with the
key's principal recorded, and from the CLI), and a journey entered on a cron schedule by
the people identity knows, each once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from layercake.gateway.v1 import send_settings_service_pb2 as spb
from layercake.gateway.v1 import send_settings_service_pb2_grpc as sgrpc
from services.demo.assets import publish_journey
from services.demo.gateway import TIMEOUT, auth, request_id
from tests.conftest import random_id
from tests.e2e.conftest import Platform
from tests.e2e.test_walking_skeleton import event, violations
from tests.polling import eventually

pytestmark = pytest.mark.e2e

DAY = 86400
SCHEDULED = """
journey: {journey_id}
description: Every minute, to those who agreed to email; once each.
owner: growth-team
entry:
  schedule: {{cron: "* * * * *", time_zone: Europe/Paris}}
  when: profile.consent.email_marketing
reentry: {{policy: never}}
steps:
  - id: done
    exit: {{}}
"""


async def test_a_tenant_sets_its_send_settings_through_the_gateway_and_the_cli(
    platform: Platform,
) -> None:
    async with platform.gateway() as g:
        suffix = random_id("s")
        await g.hire_crew(suffix)
        stub = sgrpc.SendSettingsServiceStub(g.channel)
        fewer = spb.SendSettings(
            frequency_caps=spb.FrequencyCaps(caps=[spb.FrequencyCap(channel="email", limit=2)]),
            quiet_hours=spb.QuietHours(
                start="21:00", end="08:00", default_time_zone="Europe/Paris"
            ),
        )
        fewer.frequency_caps.caps[0].window.FromSeconds(DAY)
        update = spb.UpdateSendSettingsRequest(settings=fewer, request_id=request_id())
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.UpdateSendSettings(update, metadata=auth(g.crew.editor), timeout=TIMEOUT)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        bad = spb.UpdateSendSettingsRequest(settings=spb.SendSettings(), request_id=request_id())
        bad.settings.frequency_caps.caps.add(channel="email", limit=0).window.FromSeconds(DAY)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.UpdateSendSettings(bad, metadata=auth(g.crew.operator), timeout=TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(refused.value) == ["settings.frequency_caps.caps[0].limit"]

        changed = await stub.UpdateSendSettings(
            update, metadata=auth(g.crew.operator), timeout=TIMEOUT
        )
        assert changed.effective == fewer
        read = await stub.GetSendSettings(
            spb.GetSendSettingsRequest(), metadata=auth(g.crew.approver), timeout=TIMEOUT
        )
        assert read.settings == fewer
        assert read.actor == f"person:story-operator-{suffix}"


def test_the_cli_sets_and_shows_the_send_settings(platform: Platform) -> None:
    env = os.environ | {
        "LAYERCAKE_GATEWAY": platform.stack.addr("gateway"),
        "LAYERCAKE_API_KEY": platform.api_key,
    }
    cli = [str(Path(sys.executable).parent / "layercake")]  # the installed console script
    done = subprocess.run(
        [*cli, "settings", "set", "--caps", "email=1/1d,*=3/7d", "--reason", "from the cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "caps email=1/1d,*=3/7d" in done.stderr
    shown = subprocess.run(
        [*cli, "settings", "get", "-o", "json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr + shown.stdout
    found = json.loads(shown.stdout)
    assert [c["limit"] for c in found["settings"]["frequency_caps"]["caps"]] == [1, 3]
    assert "quiet_hours" not in found["settings"]  # not given: back to the deployment's
    assert found["actor"].startswith("person:")


@pytest.mark.timeout(300)
async def test_a_scheduled_journey_enters_each_consenting_person_once(platform: Platform) -> None:
    journey_id = random_id("minutely-")
    async with platform.gateway() as g:
        await g.hire_crew(random_id("c"))
        people = [random_id("sched-") for _ in range(3)]
        await g.ingest(
            [
                event(cookie, consent={"email_marketing": i != 0})  # the first said no
                for i, cookie in enumerate(people)
            ]
        )
        await publish_journey(g, SCHEDULED.format(journey_id=journey_id))

        async def both_entered() -> dict[tuple[str, str], int]:
            counts = await g.journey_counts(journey_id)
            assert counts.get(("", "entered:schedule")) == 2, counts
            return counts

        counts = await eventually(both_entered, timeout=200)  # a tick comes each minute
        assert counts[("", "entered")] == 2
        assert counts[("", "exited:completed")] == 2
