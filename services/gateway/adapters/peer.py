"""An internal service over gRPC, as the gateway calls it: one lazily opened channel,
each call signed for the admitted principal, with the caller's remaining deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls

S = TypeVar("S")
R = TypeVar("R")


class Peer(Generic[S]):
    """One channel to a peer, opened on first use (inside the event loop) and reused."""

    def __init__(
        self,
        addr: str,
        timeout: float,
        internal: InternalCalls,
        make_stub: Callable[[grpc.aio.Channel], S],
    ) -> None:
        self.addr = addr
        self.timeout = timeout
        self.internal = internal
        self._make_stub = make_stub
        self._channel: grpc.aio.Channel | None = None
        self._stub: S | None = None

    async def call(self, pick: Callable[[S], Callable[..., Awaitable[R]]], request: Any) -> R:
        """The peer's answer to `pick(stub)(request)`; its errors come back as the matching
        kernel errors (a stopped peer as UNAVAILABLE, within the deadline)."""
        return await client.call(pick(self.stub()), request, self.timeout)

    async def serving(self, timeout: float) -> bool:
        """Whether the peer's `grpc.health.v1` says it serves; a kernel error (UNAVAILABLE,
        DEADLINE_EXCEEDED) when it does not answer within `timeout` or the caller's deadline."""
        health = health_pb2_grpc.HealthStub(self._open())
        reply = await client.call(health.Check, health_pb2.HealthCheckRequest(), timeout)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def stub(self) -> S:
        if self._stub is None:
            self._stub = self._make_stub(self._open())
        return self._stub

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = client.channel(self.addr, self.internal)
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None
