"""Gateway-only settings and their validation."""

from __future__ import annotations

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
