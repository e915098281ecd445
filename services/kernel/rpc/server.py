"""gRPC server bootstrap: health, reflection, interceptors, message size limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.kernel.rpc.interceptors import ServerInterceptor
from services.kernel.rpc.signing import InternalCalls

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Servicer:
    """A servicer with its generated `add_..._to_server` and full service name."""

    add: Callable[[Any, grpc.aio.Server], None]
    implementation: object
    name: str


@dataclass
class Server:
    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    names: tuple[str, ...]

    async def serving(self, ok: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.names):
            await self.health.set(name, status)


def create_server(
    addr: str,
    servicers: Sequence[Servicer],
    default_timeout: float = 30.0,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    internal: InternalCalls | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
) -> Server:
    """Builds (not starts) a server bound to `addr`; port 0 picks a free port for tests.

    With `internal`, every call but health and reflection must carry the gateway's
    signature (an internal service); without, the servicers authenticate (the gateway).
    `interceptors` run inside the kernel's (a test's stand-in for the gateway's admission).
    """
    server = grpc.aio.server(
        interceptors=[ServerInterceptor(default_timeout, internal), *interceptors],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
            # clients reconnect now and then, so new replicas get their share of calls
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 30_000),
        ],
    )
    for s in servicers:
        s.add(s.implementation, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = tuple(s.name for s in servicers)
    reflection.enable_server_reflection(
        (
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(addr)
    if port == 0:
        raise OSError(f"cannot listen on {addr}")
    return Server(server, port, health, names)
