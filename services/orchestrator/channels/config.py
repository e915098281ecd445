"""A channel adapter's settings, from environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from services.kernel.config import NATS_PORT, validated
from services.kernel.unsubscribe import UnsubscribeLinks
from services.orchestrator.channels.email import smtp_endpoint

CHANNELS = ("email", "webhook")
ENV = {
    "nats_url": "LAYERCAKE_NATS_URL",
    "state_dir": "LAYERCAKE_STATE_DIR",
    "database_url": "LAYERCAKE_CHANNEL_DATABASE_URL",
    "smtp_url": "LAYERCAKE_SMTP_URL",
    "smtp_from": "LAYERCAKE_SMTP_FROM",
    "smtp_timeout": "LAYERCAKE_SMTP_TIMEOUT",
    "webhook_url": "LAYERCAKE_WEBHOOK_URL",
    "webhook_secret": "LAYERCAKE_WEBHOOK_SECRET",
    "internal_secret": "LAYERCAKE_INTERNAL_SECRET",
    "public_url": "LAYERCAKE_PUBLIC_URL",
    "gateway_http_addr": "LAYERCAKE_GATEWAY_HTTP_ADDR",
    "max_attempts": "LAYERCAKE_CHANNEL_MAX_ATTEMPTS",
    "retry_delay": "LAYERCAKE_CHANNEL_RETRY_DELAY",
    "log_level": "LAYERCAKE_LOG_LEVEL",
}
SMTP_SINK = "smtp://127.0.0.1:2525"  # what `make run` starts when LAYERCAKE_SMTP_URL is unset


class ChannelConfig(BaseModel):
    channel: str
    nats_url: str = f"nats://127.0.0.1:{NATS_PORT}"
    state_dir: Path = Path(".layercake")
    database_url: str = ""  # default: a SQLite file per channel in the state directory
    smtp_url: str = SMTP_SINK
    smtp_from: str = "layercake@localhost"
    smtp_timeout: float = Field(default=60.0, gt=0, le=600)  # seconds per SMTP command
    webhook_url: str = ""
    webhook_secret: SecretStr | None = None
    internal_secret: SecretStr | None = None  # signs the mails' unsubscribe links
    public_url: str = ""  # where people reach the gateway's HTTP door; default: that door
    gateway_http_addr: str = "127.0.0.1:8088"
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_delay: float = Field(default=1.0, gt=0, le=300)
    log_level: str = "INFO"

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str) -> str:
        smtp_endpoint(value)
        return value

    @field_validator("webhook_url", "public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / f'channel-{self.channel}.db'}"

    def secret(self) -> bytes:
        """The webhook signing key; a webhook adapter needs one and a URL."""
        if self.webhook_secret is None or len(self.webhook_secret.get_secret_value()) < 16:
            raise ValueError(f"{ENV['webhook_secret']} must be set (at least 16 characters)")
        if not self.webhook_url:
            raise ValueError(f"{ENV['webhook_url']} must be set")
        return self.webhook_secret.get_secret_value().encode()

    def unsubscribe_links(self) -> UnsubscribeLinks:
        """Signs the email's one-click unsubscribe links to the gateway's HTTP door (public
        URL, or the door's own address); the email adapter needs the internal secret."""
        if self.internal_secret is None:
            raise ValueError(f"{ENV['internal_secret']} must be set: it signs unsubscribe links")
        host, _, port = self.gateway_http_addr.rpartition(":")
        local = "127.0.0.1" if host in ("", "0.0.0.0") else host
        base = self.public_url or f"http://{local}:{port}"
        return UnsubscribeLinks(self.internal_secret.get_secret_value().encode(), base)


def load_channel_config(channel: str, environ: Mapping[str, str] | None = None) -> ChannelConfig:
    """Raises ConfigError naming the variable at fault."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {"channel": channel}
    values |= {name: env[var] for name, var in ENV.items() if var in env}
    return validated(ChannelConfig, values, ENV, env)
