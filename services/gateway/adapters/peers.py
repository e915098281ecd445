"""The gateway's channels to the services it forwards to: one per peer, opened on first use
(inside the event loop) and reused; every call signed for the principal the gateway
admitted, with the caller's remaining deadline and trace (`client.call`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc

from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls

S = TypeVar("S")
R = TypeVar("R")


class Peer(Generic[S]):
    """A service the gateway calls through the stub `make_stub` builds on its channel."""

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
        self.make_stub = make_stub
        self._channel: grpc.aio.Channel | None = None
        self._stub: S | None = None

    def stub(self) -> S:
        if self._stub is None:
            self._channel = client.channel(self.addr, self.internal)
            self._stub = self.make_stub(self._channel)
        return self._stub

    async def call(self, method: Callable[[S], Callable[..., Awaitable[R]]], request: Any) -> R:
        """The peer's answer; its errors come back as the matching kernel errors."""
        return await client.call(method(self.stub()), request, self.timeout)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None
