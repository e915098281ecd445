"""Settings only the orchestrator has, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, Field, SecretStr, field_validator

from services.kernel.config import validated
from services.orchestrator.domain.contact_state import known_time_zone
from services.orchestrator.domain.frequency_caps import parse_caps
from services.orchestrator.domain.guards import QuietHours
from services.orchestrator.sends import SendPolicy

ENV = {
    "frequency_caps": "LAYERCAKE_ORCHESTRATOR_FREQUENCY_CAPS",
    "quiet_hours": "LAYERCAKE_ORCHESTRATOR_QUIET_HOURS",
    "cap_hold": "LAYERCAKE_ORCHESTRATOR_CAP_HOLD",
    "default_time_zone": "LAYERCAKE_ORCHESTRATOR_DEFAULT_TIME_ZONE",
    "webhook_secret": "LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET",
    "webhook_timeout": "LAYERCAKE_ORCHESTRATOR_WEBHOOK_TIMEOUT",
}


class OrchestratorConfig(BaseModel):
    """Frequency caps (`email=3/1d,*=5/1d`), quiet hours (`21:00-08:00`, empty: none),
    the hold window of a cap's last slot (seconds) and the zone of people without one; the
    key that signs journeys' webhook calls (none: webhook steps are skipped) and their timeout."""

    frequency_caps: str = "email=3/1d,*=5/1d"
    quiet_hours: str = ""
    cap_hold: float = Field(default=30.0, ge=0, le=3600)
    default_time_zone: str = "UTC"
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("frequency_caps")
    @classmethod
    def _caps(cls, value: str) -> str:
        parse_caps(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value.strip():
            QuietHours.parse(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not known_time_zone(value):
            raise ValueError("must be an IANA time zone, e.g. Europe/Paris")
        return value

    def send_policy(self) -> SendPolicy:
        return SendPolicy(
            caps=parse_caps(self.frequency_caps),
            quiet_hours=QuietHours.parse(self.quiet_hours) if self.quiet_hours.strip() else None,
            cap_hold=timedelta(seconds=self.cap_hold),
            default_time_zone=self.default_time_zone,
        )


def load_orchestrator_config(environ: Mapping[str, str] | None = None) -> OrchestratorConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values = {name: env[var] for name, var in ENV.items() if var in env}
    return validated(OrchestratorConfig, values, ENV, env)
