"""The orchestrator's own settings: each bad value named by its variable."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from services.kernel.errors import ConfigError
from services.orchestrator.config import load_orchestrator_config
from services.orchestrator.domain.frequency_caps import FrequencyCap
from services.orchestrator.domain.guards import QuietHours


def test_defaults_cap_email_and_all_channels_without_quiet_hours() -> None:
    policy = load_orchestrator_config({}).send_policy()
    assert policy.caps == (
        FrequencyCap("email", 3, timedelta(days=1)),
        FrequencyCap("*", 5, timedelta(days=1)),
    )
    assert policy.quiet_hours is None and policy.cap_hold == timedelta(seconds=30)


def test_settings_from_the_environment() -> None:
    policy = load_orchestrator_config(
        {
            "LAYERCAKE_ORCHESTRATOR_FREQUENCY_CAPS": "sms=1/12h",
            "LAYERCAKE_ORCHESTRATOR_QUIET_HOURS": "22:00-07:30",
            "LAYERCAKE_ORCHESTRATOR_CAP_HOLD": "5",
            "LAYERCAKE_ORCHESTRATOR_DEFAULT_TIME_ZONE": "Europe/Paris",
        }
    ).send_policy()
    assert policy.caps == (FrequencyCap("sms", 1, timedelta(hours=12)),)
    assert policy.quiet_hours == QuietHours(time(22), time(7, 30))
    assert (policy.cap_hold, policy.default_time_zone) == (timedelta(seconds=5), "Europe/Paris")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LAYERCAKE_ORCHESTRATOR_FREQUENCY_CAPS", "email=many"),
        ("LAYERCAKE_ORCHESTRATOR_QUIET_HOURS", "late"),
        ("LAYERCAKE_ORCHESTRATOR_CAP_HOLD", "-1"),
        ("LAYERCAKE_ORCHESTRATOR_DEFAULT_TIME_ZONE", "Mars/Olympus"),
    ],
)
def test_a_bad_value_names_its_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        load_orchestrator_config({var: value})
