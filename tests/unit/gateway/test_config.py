"""Gateway-only settings and their validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.config import GatewayConfig, load_gateway_config
from services.kernel.errors import ConfigError


def test_defaults_are_generous() -> None:
    assert load_gateway_config({}) == GatewayConfig(rate_limit=1000.0, rate_burst=5000.0)


def test_variables_override() -> None:
    config = load_gateway_config(
        {"LAYERCAKE_GATEWAY_RATE_LIMIT": "50", "LAYERCAKE_GATEWAY_RATE_BURST": "1000"}
    )
    assert (config.rate_limit, config.rate_burst) == (50.0, 1000.0)


@pytest.mark.parametrize(
    ("env", "var"),
    [
        ({"LAYERCAKE_GATEWAY_RATE_LIMIT": "0"}, "LAYERCAKE_GATEWAY_RATE_LIMIT"),
        ({"LAYERCAKE_GATEWAY_RATE_LIMIT": "fast"}, "LAYERCAKE_GATEWAY_RATE_LIMIT"),
        ({"LAYERCAKE_GATEWAY_RATE_BURST": "10"}, "LAYERCAKE_GATEWAY_RATE_BURST"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], var: str) -> None:
    with pytest.raises(ConfigError, match=f"^invalid configuration: {var}="):
        load_gateway_config(env)


def test_limits_come_from_their_variables() -> None:
    config = load_gateway_config(
        {
            "LAYERCAKE_GATEWAY_MAX_BATCH": "100",
            "LAYERCAKE_GATEWAY_MAX_EVENT_BYTES": "4096",
            "LAYERCAKE_GATEWAY_MAX_FUTURE_SKEW": "60",
            "LAYERCAKE_GATEWAY_DEDUPE_WINDOW": "P30D",
        }
    )
    limits = config.limits()
    assert (limits.max_batch, limits.max_event_bytes) == (100, 4096)
    assert limits.max_future_skew == timedelta(minutes=1)
    assert config.dedupe_window == timedelta(days=30)
    assert load_gateway_config({}).dedupe_window == timedelta(days=7)


def test_the_burst_must_hold_one_full_batch_of_the_configured_size() -> None:
    with pytest.raises(ConfigError, match="LAYERCAKE_GATEWAY_RATE_BURST"):
        load_gateway_config(
            {"LAYERCAKE_GATEWAY_MAX_BATCH": "2000", "LAYERCAKE_GATEWAY_RATE_BURST": "1500"}
        )
