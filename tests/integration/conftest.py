"""Fixtures of the cross-service integration tests: the four services as the runtime runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.decision.bootstrap import build as build_decision
from services.gateway.bootstrap import build as build_gateway
from services.gateway.config import GatewayConfig
from services.identity.bootstrap import build as build_identity
from services.kernel.messaging.nats_server import NatsServer
from services.kernel.runtime import Runtime
from services.orchestrator.bootstrap import build as build_orchestrator
from tests.integration.harness import running


@dataclass
class Services:
    """The four services in this process, on SQLite, a shared nats-server and free ports."""

    identity: Runtime
    orchestrator: Runtime
    decision: Runtime
    gateway: Runtime

    @property
    def internal(self) -> dict[str, Runtime]:
        return {
            "identity": self.identity,
            "orchestrator": self.orchestrator,
            "decision": self.decision,
        }

    def addr(self, runtime: Runtime) -> str:
        assert runtime.server is not None
        return f"127.0.0.1:{runtime.server.port}"


def addresses(**peers: Runtime) -> dict[str, str]:
    """The settings naming where each peer listens (`LAYERCAKE_IDENTITY_ADDR`, ...)."""
    found: dict[str, str] = {}
    for name, runtime in peers.items():
        assert runtime.server is not None
        found[f"LAYERCAKE_{name.upper()}_ADDR"] = f"127.0.0.1:{runtime.server.port}"
    return found


@pytest.fixture
async def services(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        identity = await stack.enter_async_context(
            running("identity", build_identity, nats_server.url, tmp_path)
        )
        decision = await stack.enter_async_context(
            running("decision", build_decision, nats_server.url, tmp_path)
        )
        orchestrator = await stack.enter_async_context(
            running(
                "orchestrator",
                build_orchestrator,
                nats_server.url,
                tmp_path,
                addresses(identity=identity, decision=decision),
            )
        )
        gateway = await stack.enter_async_context(
            running(
                "gateway",
                # its HTTP door on a free port: 8088 may be another run's
                lambda settings: build_gateway(settings, GatewayConfig(http_addr="127.0.0.1:0")),
                nats_server.url,
                tmp_path,
                addresses(identity=identity, orchestrator=orchestrator, decision=decision),
            )
        )
        yield Services(identity, orchestrator, decision, gateway)
