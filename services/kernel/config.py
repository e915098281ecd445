"""Configuration from environment variables, validated once at start.

Every setting has one variable (`LAYERCAKE_<SERVICE>_ADDR`, `LAYERCAKE_NATS_URL`...);
a bad value stops the process with a message naming that variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from services.kernel.clipping import clip
from services.kernel.errors import ConfigError
from services.kernel.rpc.signing import MIN_SECRET, InternalCalls
from services.kernel.store.limits import DEFAULT_MAX_EVENT_BYTES, DEFAULT_SNAPSHOT_EVERY
from services.kernel.timers import scheduler as timers

GRPC_PORTS = {"gateway": 50051, "identity": 50052, "orchestrator": 50053, "decision": 50054}
METRICS_PORTS = {"gateway": 9101, "identity": 9102, "orchestrator": 9103, "decision": 9104}
NATS_PORT = 4322

Settings = TypeVar("Settings", bound=BaseModel)
SECRETS = frozenset({"internal_secret", "webhook_secret"})  # never echoed in an error


class ServiceSettings(BaseModel):
    """What every service process needs to start."""

    service: str
    grpc_addr: str
    metrics_port: int = Field(ge=0, le=65535)
    database_url: str
    nats_url: str
    state_dir: Path
    identity_addr: str
    orchestrator_addr: str
    decision_addr: str
    rpc_timeout: float = Field(gt=0)
    rpc_server_timeout: float = Field(gt=0)
    internal_secret: SecretStr | None = None  # serving needs it; migrate and replay do not
    shutdown_grace: float = Field(ge=0)
    db_workers: int = Field(ge=1, le=64)
    consumer_batch: int = Field(ge=1, le=4096)
    max_deliver: int = Field(ge=1, le=100)
    relay_batch: int = Field(ge=1, le=4096)
    log_level: str
    metrics_host: str
    stream_replicas: int = Field(ge=1, le=5)
    max_event_bytes: int = Field(ge=1024, le=64 * 1024 * 1024)
    snapshot_every: int = Field(ge=0)
    timer_poll_interval: float = Field(gt=0, le=60)
    timer_batch: int = Field(ge=1, le=4096)
    timer_lease: float = Field(gt=0)
    request_retention: float = Field(gt=0)

    @field_validator("grpc_addr", "identity_addr", "orchestrator_addr", "decision_addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError("must be host:port")
        return value

    @field_validator("rpc_server_timeout")
    @classmethod
    def _room_for_a_peer_call(cls, value: float, info: ValidationInfo) -> float:
        """A handler must have time for at least one call to a peer at its own timeout."""
        if value < info.data.get("rpc_timeout", 0):
            raise ValueError("must be at least LAYERCAKE_RPC_TIMEOUT")
        return value

    @field_validator("internal_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """Signs every internal call: a short one could be guessed offline from one signature."""
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"must be at least {MIN_SECRET} characters (make run generates one)")
        return value

    def internal_calls(self) -> InternalCalls:
        """Signs this service's calls to internal services and checks the calls it serves;
        ConfigError without LAYERCAKE_INTERNAL_SECRET, which every serving process needs."""
        if self.internal_secret is None:
            raise ConfigError(
                "invalid configuration: LAYERCAKE_INTERNAL_SECRET='<unset>': required to serve"
                " (`make run` generates one into .layercake/)"
            )
        return InternalCalls(self.internal_secret.get_secret_value().encode())

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        if not value.startswith(("nats://", "tls://")):
            raise ValueError("must start with nats:// or tls://")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()


def env_names(service: str) -> dict[str, str]:
    """Field name -> environment variable, for one service."""
    up = service.upper()
    return {
        "grpc_addr": f"LAYERCAKE_{up}_ADDR",
        "metrics_port": f"LAYERCAKE_{up}_METRICS_PORT",
        "database_url": f"LAYERCAKE_{up}_DATABASE_URL",
        "nats_url": "LAYERCAKE_NATS_URL",
        "state_dir": "LAYERCAKE_STATE_DIR",
        "identity_addr": "LAYERCAKE_IDENTITY_ADDR",
        "orchestrator_addr": "LAYERCAKE_ORCHESTRATOR_ADDR",
        "decision_addr": "LAYERCAKE_DECISION_ADDR",
        "rpc_timeout": "LAYERCAKE_RPC_TIMEOUT",
        "rpc_server_timeout": "LAYERCAKE_RPC_SERVER_TIMEOUT",
        "internal_secret": "LAYERCAKE_INTERNAL_SECRET",
        "shutdown_grace": "LAYERCAKE_SHUTDOWN_GRACE",
        "db_workers": f"LAYERCAKE_{up}_DB_WORKERS",
        "consumer_batch": "LAYERCAKE_CONSUMER_BATCH",
        "max_deliver": "LAYERCAKE_MAX_DELIVER",
        "relay_batch": "LAYERCAKE_RELAY_BATCH",
        "log_level": "LAYERCAKE_LOG_LEVEL",
        "metrics_host": "LAYERCAKE_METRICS_HOST",
        "stream_replicas": "LAYERCAKE_STREAM_REPLICAS",
        "max_event_bytes": "LAYERCAKE_MAX_EVENT_BYTES",
        "snapshot_every": "LAYERCAKE_SNAPSHOT_EVERY",
        "timer_poll_interval": "LAYERCAKE_TIMER_POLL_INTERVAL",
        "timer_batch": "LAYERCAKE_TIMER_BATCH",
        "timer_lease": "LAYERCAKE_TIMER_LEASE",
        "request_retention": "LAYERCAKE_REQUEST_RETENTION",
    }


def defaults(service: str, state_dir: Path) -> dict[str, object]:
    return {
        "grpc_addr": f"127.0.0.1:{GRPC_PORTS[service]}",
        "metrics_port": METRICS_PORTS[service],
        "database_url": f"sqlite:///{state_dir / (service + '.db')}",
        "nats_url": f"nats://127.0.0.1:{NATS_PORT}",
        "identity_addr": f"127.0.0.1:{GRPC_PORTS['identity']}",
        "orchestrator_addr": f"127.0.0.1:{GRPC_PORTS['orchestrator']}",
        "decision_addr": f"127.0.0.1:{GRPC_PORTS['decision']}",
        "rpc_timeout": 5.0,  # a call to a peer
        "rpc_server_timeout": 30.0,  # the most a server lets any call run, whatever its deadline
        "shutdown_grace": 10.0,
        "db_workers": 4,
        "consumer_batch": 256,
        "max_deliver": 5,
        "relay_batch": 512,
        "log_level": "INFO",
        "metrics_host": "127.0.0.1",  # 0.0.0.0 in a pod, so Prometheus can scrape it
        "stream_replicas": 1,  # 3 on a JetStream cluster
        "max_event_bytes": DEFAULT_MAX_EVENT_BYTES,  # below NATS's max payload (1 MiB)
        "snapshot_every": DEFAULT_SNAPSHOT_EVERY,  # events between snapshots; 0: never
        "timer_poll_interval": timers.DEFAULT_POLL_INTERVAL,
        "timer_batch": timers.DEFAULT_BATCH,
        "timer_lease": timers.DEFAULT_LEASE,
        "request_retention": 7 * 24 * 3600.0,  # seconds an idempotent call's answer is kept
    }


def load_settings(service: str, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Reads and validates the settings of `service`; raises ConfigError naming the variable."""
    if service not in GRPC_PORTS:
        raise ConfigError(f"unknown service {service!r}")
    env = os.environ if environ is None else environ
    names = env_names(service)
    state_dir = Path(env.get(names["state_dir"], ".layercake"))
    values = defaults(service, state_dir) | {"service": service, "state_dir": state_dir}
    values |= {field: env[var] for field, var in names.items() if var in env}
    return validated(ServiceSettings, values, names, env)


def validated(
    model: type[Settings],
    values: Mapping[str, object],
    names: Mapping[str, str],
    env: Mapping[str, str],
) -> Settings:
    """`model` built from `values`, or a ConfigError naming each variable at fault and its value;
    `names` maps a field to its variable. Every settings loader reports errors through it."""
    try:
        return model.model_validate(values)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            var = names.get(field, field or "?")
            shown = "<secret>" if field in SECRETS and var in env else env.get(var, "<unset>")
            problems.append(f"{var}={clip(shown, 200)!r}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from e
