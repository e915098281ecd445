"""The e2e fixture: nats-server and the four services as real processes on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest

from services.demo.gateway import Crew, Gateway
from services.kernel.rpc.signing import InternalCalls
from services.local.stack import LocalStack, Ports
from tests.signing import signed_channel

T = TypeVar("T")


@dataclass
class Platform:
    """A running platform and the demo tenant's admin key, as a partner holds it."""

    stack: LocalStack
    api_key: str

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),)

    def gateway(self) -> Gateway:
        """The gateway as a partner's people reach it (gRPC and the Segment HTTP door), with
        the admin's key; `hire_crew` adds an editor's, an approver's and an operator's."""
        door = f"http://127.0.0.1:{self.stack.ports.http}"
        return Gateway(self.stack.addr("gateway"), door, Crew(self.api_key))

    def internal_channel(self, service: str, tenant: str | None = None) -> grpc.aio.Channel:
        """A channel to an internal service signing as the gateway does, with the stack's secret
        (for `tenant`, or the tenant each request names)."""
        internal = InternalCalls(self.stack.internal_secret().encode())
        return signed_channel(self.stack.addr(service), tenant, internal)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stack = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free())
    try:
        yield Platform(stack, stack.start())
    finally:
        stack.stop()


@pytest.fixture
async def gateway(platform: Platform) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(platform.stack.addr("gateway")) as channel:
        yield channel
