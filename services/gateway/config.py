"""Settings only the gateway has, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError, model_validator

from services.gateway.domain.ingest import MAX_BATCH
from services.kernel.errors import ConfigError

ENV = {
    "rate_limit": "LAYERCAKE_GATEWAY_RATE_LIMIT",
    "rate_burst": "LAYERCAKE_GATEWAY_RATE_BURST",
}


class GatewayConfig(BaseModel):
    """Per-key rate (events/s) and burst."""

    rate_limit: float = Field(default=1000.0, gt=0)
    rate_burst: float = Field(default=5000.0, gt=0)

    @model_validator(mode="after")
    def _burst_fits_a_batch(self) -> GatewayConfig:
        if self.rate_burst < MAX_BATCH:
            raise ValueError(f"rate_burst must be at least {MAX_BATCH}, one full batch")
        return self


def load_gateway_config(environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values = {name: env[var] for name, var in ENV.items() if var in env}
    try:
        return GatewayConfig.model_validate(values)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else "rate_burst"
            var = ENV.get(name, ENV["rate_burst"])
            problems.append(f"{var}={env.get(var, '<unset>')!r}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from e
