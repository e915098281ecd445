"""Settings only the gateway has, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, field_validator

from services.gateway.domain.ingest import MAX_BATCH
from services.kernel.config import validated

ENV = {
    "rate_limit": "LAYERCAKE_GATEWAY_RATE_LIMIT",
    "rate_burst": "LAYERCAKE_GATEWAY_RATE_BURST",
}


class GatewayConfig(BaseModel):
    """Per-key rate (events/s) and burst."""

    rate_limit: float = Field(default=1000.0, gt=0)
    rate_burst: float = Field(default=5000.0, gt=0)

    @field_validator("rate_burst")
    @classmethod
    def _burst_fits_a_batch(cls, value: float) -> float:
        if value < MAX_BATCH:
            raise ValueError(f"must be at least {MAX_BATCH}, one full batch")
        return value


def load_gateway_config(environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values = {name: env[var] for name, var in ENV.items() if var in env}
    return validated(GatewayConfig, values, ENV, env)
