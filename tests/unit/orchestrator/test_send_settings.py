"""A tenant's send settings: validated field by field, put over the deployment's defaults,
recorded with who changed them, and the policy each send follows once the cache drops."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from layercake.orchestrator.v1 import send_settings_pb2 as pb
from services.kernel.clock import FixedClock
from services.kernel.errors import InvalidArgument
from services.kernel.principals import Role
from services.orchestrator.domain.frequency_caps import FrequencyCap
from services.orchestrator.domain.guards import QuietHours
from services.orchestrator.domain.send_settings import QuietSetting, SendSettings
from services.orchestrator.mapping import send_settings_of, send_settings_proto
from services.orchestrator.send_settings import (
    SEND_SETTINGS_CHANGED,
    SendPolicies,
    as_settings,
    effective_policy,
    stored_settings,
    update_send_settings,
)
from services.orchestrator.sends import SendPolicy
from services.orchestrator.store.memory import InMemoryOrchestratorUnitOfWork, in_memory
from tests.contracts.asset_harness import person

DAY = timedelta(days=1)
DEFAULTS = SendPolicy(
    caps=(FrequencyCap("email", 3, DAY), FrequencyCap("*", 5, DAY)),
    quiet_hours=QuietHours.parse("21:00-08:00"),
    default_time_zone="UTC",
)


def cap(channel: str, limit: int, seconds: int) -> pb.FrequencyCap:
    found = pb.FrequencyCap(channel=channel, limit=limit)
    found.window.FromSeconds(seconds)
    return found


def problems(message: pb.SendSettings) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as e:
        send_settings_of(message)
    return {v.field: v.description for v in e.value.violations}


def test_each_bad_part_is_named_as_the_api_spells_it() -> None:
    found = problems(
        pb.SendSettings(
            frequency_caps=pb.FrequencyCaps(
                caps=[cap("fax", 0, 0), cap("email", 2, 86400), cap("email", 4, 86400)]
            ),
            quiet_hours=pb.QuietHours(start="25:00", end="08:00", default_time_zone="Mars/Base"),
        )
    )
    assert set(found) == {
        "settings.frequency_caps.caps[0].channel",
        "settings.frequency_caps.caps[0].limit",
        "settings.frequency_caps.caps[0].window",
        "settings.frequency_caps.caps[2]",
        "settings.quiet_hours.start",
        "settings.quiet_hours.default_time_zone",
    }
    assert "repeats the cap on email" in found["settings.frequency_caps.caps[2]"]
    same = problems(pb.SendSettings(quiet_hours=pb.QuietHours(start="08:00", end="08:00")))
    assert same == {"settings.quiet_hours.end": "must differ from start"}


def test_unset_parts_follow_the_deployment_and_set_ones_replace_it() -> None:
    assert effective_policy(DEFAULTS, SendSettings()) == DEFAULTS
    none = send_settings_of(pb.SendSettings(frequency_caps=pb.FrequencyCaps()))
    assert effective_policy(DEFAULTS, none).caps == ()  # set, and empty: no caps at all
    assert effective_policy(DEFAULTS, none).quiet_hours == DEFAULTS.quiet_hours
    quiet = send_settings_of(pb.SendSettings(quiet_hours=pb.QuietHours(start="22:30", end="07:00")))
    policy = effective_policy(DEFAULTS, quiet)
    assert policy.quiet_hours == QuietHours(time(22, 30), time(7, 0))
    assert policy.default_time_zone == "UTC"  # not given: the deployment's
    silent = send_settings_of(
        pb.SendSettings(quiet_hours=pb.QuietHours(default_time_zone="Europe/Paris"))
    )
    assert effective_policy(DEFAULTS, silent).quiet_hours is None
    assert effective_policy(DEFAULTS, silent).default_time_zone == "Europe/Paris"


def test_settings_round_trip_through_their_message() -> None:
    settings = SendSettings(
        caps=(FrequencyCap("sms", 1, timedelta(hours=6)),),
        quiet=QuietSetting(QuietHours.parse("21:00-08:00"), "America/Chicago"),
    )
    assert send_settings_of(send_settings_proto(settings)) == settings
    assert send_settings_of(send_settings_proto(SendSettings())) == SendSettings()
    assert send_settings_of(send_settings_proto(as_settings(DEFAULTS))) == SendSettings(
        DEFAULTS.caps, QuietSetting(DEFAULTS.quiet_hours, "UTC")
    )


def test_a_change_is_recorded_with_its_actor_and_published_and_the_cache_drops() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    db = in_memory(clock)
    policies = SendPolicies(DEFAULTS)
    ops = person("ops", Role.OPERATOR, tenant="acme")
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert policies.policy(uow, "acme") == DEFAULTS  # loaded, and kept
        one_a_day = SendSettings(caps=(FrequencyCap("email", 1, DAY),))
        update_send_settings(uow, ops, one_a_day, "too many mails")
        uow.commit()
    with InMemoryOrchestratorUnitOfWork(db) as uow:
        assert policies.policy(uow, "acme") == DEFAULTS  # until the change reaches it
        policies.invalidate("acme")
        assert policies.policy(uow, "acme").caps == (FrequencyCap("email", 1, DAY),)
        assert policies.policy(uow, "other") == DEFAULTS  # tenants apart
        stored = stored_settings(uow, "acme")
    assert (stored.actor, stored.update_time) == ("person:ops", clock.now())
    published = db.state.outbox
    assert [m.type for m in published] == [SEND_SETTINGS_CHANGED]
    assert published[0].subject == "layercake.acme.orchestrator.send_settings_changed"
