"""Settings only the gateway has, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from services.gateway.domain.ingest import Limits
from services.kernel.config import validated

ENV = {
    "max_batch": "LAYERCAKE_GATEWAY_MAX_BATCH",
    "rate_limit": "LAYERCAKE_GATEWAY_RATE_LIMIT",
    "rate_burst": "LAYERCAKE_GATEWAY_RATE_BURST",
    "unknown_key_rate": "LAYERCAKE_GATEWAY_UNKNOWN_KEY_RATE",
    "max_request_bytes": "LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES",
    "max_event_bytes": "LAYERCAKE_GATEWAY_MAX_EVENT_BYTES",
    "max_name_chars": "LAYERCAKE_GATEWAY_MAX_NAME_CHARS",
    "max_value_bytes": "LAYERCAKE_GATEWAY_MAX_VALUE_BYTES",
    "max_depth": "LAYERCAKE_GATEWAY_MAX_DEPTH",
    "max_future_skew": "LAYERCAKE_GATEWAY_MAX_FUTURE_SKEW",
    "max_event_age": "LAYERCAKE_GATEWAY_MAX_EVENT_AGE",
    "dedupe_window": "LAYERCAKE_GATEWAY_DEDUPE_WINDOW",
    "http_addr": "LAYERCAKE_GATEWAY_HTTP_ADDR",
}

DEFAULT = Limits()


class GatewayConfig(BaseModel):
    """Per-key rate (events/s) and burst, what a request may hold, and how long a message
    id is remembered. Durations are seconds or ISO 8601 (`P7D`)."""

    max_batch: int = Field(default=DEFAULT.max_batch, ge=1, le=10_000)
    rate_limit: float = Field(default=1000.0, gt=0)
    rate_burst: float = Field(default=5000.0, gt=0)
    # calls per second with a key the gateway has not cached, all such keys together
    unknown_key_rate: float = Field(default=100.0, gt=0)
    max_request_bytes: int = Field(default=DEFAULT.max_request_bytes, ge=1024)
    max_event_bytes: int = Field(default=DEFAULT.max_event_bytes, ge=256)
    max_name_chars: int = Field(default=DEFAULT.max_name_chars, ge=1)
    max_value_bytes: int = Field(default=DEFAULT.max_value_bytes, ge=1)
    max_depth: int = Field(default=DEFAULT.max_depth, ge=1)
    max_future_skew: timedelta = Field(default=DEFAULT.max_future_skew, ge=timedelta(0))
    max_event_age: timedelta = Field(default=DEFAULT.max_age, gt=timedelta(0))
    dedupe_window: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    # the Segment-compatible HTTP door (`host:port`; port 0 picks a free one)
    http_addr: str = Field(default="0.0.0.0:8088", pattern=r"^[^\s:]*:\d{1,5}$")

    @field_validator("max_future_skew", "max_event_age", "dedupe_window", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """`60` from the environment is sixty seconds, as a number would be."""
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @field_validator("rate_burst")
    @classmethod
    def _burst_fits_a_batch(cls, value: float, info: ValidationInfo) -> float:
        batch = info.data.get("max_batch", DEFAULT.max_batch)
        if value < batch:
            raise ValueError(f"must be at least {batch}, one full batch")
        return value

    def limits(self) -> Limits:
        return Limits(
            max_batch=self.max_batch,
            max_request_bytes=self.max_request_bytes,
            max_event_bytes=self.max_event_bytes,
            max_name_chars=self.max_name_chars,
            max_value_bytes=self.max_value_bytes,
            max_depth=self.max_depth,
            max_future_skew=self.max_future_skew,
            max_age=self.max_event_age,
        )


def load_gateway_config(environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values = {name: env[var] for name, var in ENV.items() if var in env}
    return validated(GatewayConfig, values, ENV, env)
