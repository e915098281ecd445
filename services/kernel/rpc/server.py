"""gRPC server bootstrap: health, reflection, interceptors, message size limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

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


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic in the stubs only
Generic: TypeAlias = "grpc.GenericRpcHandler[Any, Any]"


class MethodTable(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic in the stubs only
    """Every method a server serves, found by its full name in one dict lookup.

    The generated `add_..._to_server` functions also register each method with the core,
    and grpc.aio's server then keeps one pending call per registered method and waits on
    all of them (`asyncio.wait`) for every call it accepts: O(methods) per call, about a
    hundred at the gateway. Given this table as their server instead, they leave the core
    one generic pending call, as a bare server has.
    """

    def __init__(self) -> None:
        self.methods: dict[str, Handler] = {}
        self.generic: list[Generic] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[Generic]) -> None:
        """Kept for a service added without its method table (older generated code)."""
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self.methods.update({f"/{service}/{name}": h for name, h in handlers.items()})

    def service(self, details: grpc.HandlerCallDetails) -> Handler | None:
        found = self.methods.get(details.method)
        if found is None:
            for handler in self.generic:
                found = handler.service(details)
                if found is not None:
                    break
        return found


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
    table = MethodTable()
    added: Any = table  # the generated functions are typed for a server; they call these two
    for s in servicers:
        s.add(s.implementation, added)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, added)
    names = tuple(s.name for s in servicers)
    server.add_generic_rpc_handlers((table,))
    reflection.enable_server_reflection(  # it checks for a grpc.aio server (one method)
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
