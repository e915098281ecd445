"""The whole platform as local processes: nats-server plus the four services.

`make run` uses it to start everything on the default ports; the e2e tests use
it on free ports to drive the services exactly as a partner would, and may start
more than one process of a service (replicas sharing its database).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gateway.admin import read_env_file
from services.kernel.config import GRPC_PORTS, METRICS_PORTS, NATS_PORT
from services.kernel.messaging.nats_server import NatsServer, free_port

SERVICES = ("identity", "orchestrator", "decision", "gateway")
DEMO_TENANT = "demo"
# Processes beside the services (`make run` starts them): channel adapters, a local SMTP
# server keeping mails as files when no LAYERCAKE_SMTP_URL names a real one, and a local
# HTTP server keeping webhooks as files when no LAYERCAKE_WEBHOOK_URL names a real one.
CHANNEL_COMMANDS = {
    "smtp-sink": ["-m", "services.orchestrator.channels.sink"],
    "webhook-sink": ["-m", "services.orchestrator.channels.http_sink"],
    "channel-email": ["-m", "services.orchestrator.channels", "email"],
    "channel-webhook": ["-m", "services.orchestrator.channels", "webhook"],
}
HTTP_PORT = 8088
# what signs webhook bodies: the orchestrator's journey steps, and the webhook channel adapter
WEBHOOK_SECRETS = ("LAYERCAKE_ORCHESTRATOR_WEBHOOK_SECRET", "LAYERCAKE_WEBHOOK_SECRET")


@dataclass(frozen=True)
class Ports:
    grpc: dict[str, int]
    metrics: dict[str, int]
    nats: int
    nats_monitor: int
    smtp: int = 2525  # the local SMTP sink's
    http: int = HTTP_PORT  # the gateway's Segment-compatible HTTP door
    webhook: int = 8090  # the local HTTP sink's

    @classmethod
    def defaults(cls) -> Ports:
        return cls(dict(GRPC_PORTS), dict(METRICS_PORTS), NATS_PORT, 8322)

    @classmethod
    def free(cls) -> Ports:
        """Free ports for tests, so suites never collide with `make run`."""
        return cls(
            {s: free_port() for s in SERVICES},
            {s: free_port() for s in SERVICES},
            free_port(),
            free_port(),
            free_port(),
            http=free_port(),
            webhook=free_port(),
        )


@dataclass(frozen=True)
class Replica:
    """One more process of a service, on ports of its own; peers keep calling the first."""

    service: str
    grpc: int
    metrics: int
    http: int = 0  # the gateway's HTTP door


@dataclass
class LocalStack:
    state_dir: Path
    ports: Ports = field(default_factory=Ports.defaults)
    extra_env: dict[str, str] = field(default_factory=dict)
    channels: bool = False  # also the channel adapters (and an SMTP sink): `make run`
    example: bool = False  # the demo tenant decides with the drinks example: `make run`
    # processes per service ({"orchestrator": 2}), all on the service's one database:
    # PostgreSQL (LAYERCAKE_<SERVICE>_DATABASE_URL) as in production, or its SQLite file
    replicas: dict[str, int] = field(default_factory=dict)
    nats: NatsServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    replica_processes: dict[str, Replica] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        """Names the extra processes (`orchestrator-2`...) and gives each free ports."""
        for service, count in self.replicas.items():
            if service not in SERVICES:
                raise ValueError(f"replicas: {service!r} is not one of {', '.join(SERVICES)}")
            for n in range(2, count + 1):
                http = free_port() if service == "gateway" else 0
                replica = Replica(service, free_port(), free_port(), http)
                self.replica_processes[f"{service}-{n}"] = replica

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def demo_env_file(self) -> Path:
        return self.state_dir / "demo.env"

    def internal_secret(self) -> str:
        """The secret internal calls are signed with."""
        return self._state_secret("internal.secret")

    def webhook_secret(self) -> str:
        """The key that signs webhook bodies (journeys' webhook steps and the webhook channel),
        so they run on a fresh machine; receivers verify with the file's content."""
        return self._state_secret("webhook.secret")

    def _state_secret(self, name: str) -> str:
        """A secret generated into the state directory once (readable by its owner only), then
        the same for every process and every run."""
        path = self.state_dir / name
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def addr(self, service: str) -> str:
        """Where a service (its first process) or a replica (`orchestrator-2`) serves gRPC."""
        replica = self.replica_processes.get(service)
        return f"127.0.0.1:{self.ports.grpc[service] if replica is None else replica.grpc}"

    def env(self, process: str | None = None) -> dict[str, str]:
        """The environment of every process; a replica's names its own ports."""
        env = dict(os.environ)
        env |= {
            "LAYERCAKE_STATE_DIR": str(self.state_dir),
            "LAYERCAKE_NATS_URL": f"nats://127.0.0.1:{self.ports.nats}",
            "LAYERCAKE_INTERNAL_SECRET": self.internal_secret(),
        }
        for s in SERVICES:
            env[f"LAYERCAKE_{s.upper()}_ADDR"] = self.addr(s)
            env[f"LAYERCAKE_{s.upper()}_METRICS_PORT"] = str(self.ports.metrics[s])
        env["LAYERCAKE_GATEWAY_HTTP_ADDR"] = f"127.0.0.1:{self.ports.http}"
        env |= self.extra_env
        if self.channels:  # `make run`: webhook steps and the webhook channel are signed
            for name in WEBHOOK_SECRETS:
                env.setdefault(name, self.webhook_secret())
        if self.channels and "LAYERCAKE_SMTP_URL" not in env:
            env["LAYERCAKE_SMTP_URL"] = f"smtp://127.0.0.1:{self.ports.smtp}"
        if self.channels and "LAYERCAKE_WEBHOOK_URL" not in env:
            env["LAYERCAKE_WEBHOOK_URL"] = self.webhook_sink_url
        if (replica := self.replica_processes.get(process or "")) is not None:
            up = replica.service.upper()
            env[f"LAYERCAKE_{up}_ADDR"] = f"127.0.0.1:{replica.grpc}"
            env[f"LAYERCAKE_{up}_METRICS_PORT"] = str(replica.metrics)
            if replica.http:
                env["LAYERCAKE_GATEWAY_HTTP_ADDR"] = f"127.0.0.1:{replica.http}"
        return env

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def webhook_dir(self) -> Path:
        return self.state_dir / "webhooks"

    @property
    def webhook_sink_url(self) -> str:
        """Where the local HTTP sink takes webhooks (any path is kept)."""
        return f"http://127.0.0.1:{self.ports.webhook}/hooks"

    def extras(self) -> tuple[str, ...]:
        """The processes started beside the services: the two channel adapters, the SMTP sink
        unless LAYERCAKE_SMTP_URL names a server, the HTTP sink unless LAYERCAKE_WEBHOOK_URL
        names one (sinks first, so they stop last)."""
        if not self.channels:
            return ()
        given = os.environ | self.extra_env
        sinks = {"smtp-sink": "LAYERCAKE_SMTP_URL", "webhook-sink": "LAYERCAKE_WEBHOOK_URL"}
        local = tuple(sink for sink, variable in sinks.items() if variable not in given)
        return (*local, "channel-email", "channel-webhook")

    def command(self, process: str) -> list[str]:
        sinks = {
            "smtp-sink": (self.ports.smtp, self.mail_dir),
            "webhook-sink": (self.ports.webhook, self.webhook_dir),
        }
        if process in sinks:
            port, where = sinks[process]
            return [*CHANNEL_COMMANDS[process], "--port", str(port), "--dir", str(where)]
        if (replica := self.replica_processes.get(process)) is not None:
            return ["-m", f"services.{replica.service}"]
        return CHANNEL_COMMANDS.get(process, ["-m", f"services.{process}"])

    def start_nats(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(
            self.state_dir / "jetstream",
            port=self.ports.nats,
            monitor_port=self.ports.nats_monitor,
            log_file=self.log_dir / "nats-server.log",
        ).start()

    def ensure_demo_tenant(self) -> str:
        """Creates the demo tenant and an admin key (kept across runs); returns the key."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "services.gateway.admin",
                "ensure-tenant",
                "--tenant",
                DEMO_TENANT,
                "--env-file",
                str(self.demo_env_file),
            ],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        key = read_env_file(self.demo_env_file).get("LAYERCAKE_API_KEY")
        if key:
            return key
        raise RuntimeError(f"no LAYERCAKE_API_KEY in {self.demo_env_file}")

    def ensure_drinks_example(self) -> None:
        """The demo tenant decides with the drinks example: its catalog and model live."""
        subprocess.run(
            [sys.executable, "-m", "services.decision", "install-example", "--tenant", DEMO_TENANT],
            env=self.env(),
            check=True,
            capture_output=True,
        )

    def spawn(self, service: str) -> subprocess.Popen[bytes]:
        """Starts the service's process without waiting for it to serve."""
        with (self.log_dir / f"{service}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, *self.command(service)],
                env=self.env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
            )
        self.processes[service] = process
        return process

    def start_service(self, service: str, timeout: float = 60.0) -> None:
        self.spawn(service)
        self.wait_serving(service, timeout)

    def is_serving(self, service: str, timeout: float = 0.5) -> bool:
        if service not in (*SERVICES, *self.replica_processes):  # no health: running is serving
            process = self.processes.get(service)
            return process is not None and process.poll() is None
        with grpc.insecure_channel(self.addr(service)) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout
                )
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def wait_serving(self, service: str, timeout: float) -> None:
        """Polls the gRPC health service until SERVING, or fails if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {process.returncode}; "
                    f"see {self.log_dir / (service + '.log')}"
                )
            if self.is_serving(service, timeout=1):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{service} not serving after {timeout}s")

    def start(self) -> str:
        """Starts everything; returns the demo tenant's API key."""
        self.start_nats()
        key = self.ensure_demo_tenant()
        if self.example:
            self.ensure_drinks_example()
        for service in (*SERVICES, *self.replica_processes):
            self.start_service(service)
        for process in self.extras():
            self.spawn(process)
        return key

    def kill(self, service: str) -> None:
        """SIGKILL: the crash a real process can suffer at any instruction."""
        process = self.processes.pop(service)
        process.kill()
        process.wait()

    def stop_service(self, service: str, timeout: float = 20.0) -> int:
        process = self.processes.pop(service)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop(self) -> None:
        for service in reversed((*SERVICES, *self.replica_processes, *self.extras())):
            if service in self.processes:
                self.stop_service(service)
        if self.nats is not None:
            self.nats.stop()
