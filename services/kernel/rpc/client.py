"""Outgoing gRPC: channels to peers, and calls that always carry a deadline and trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from opentelemetry import propagate

from services.kernel import errors
from services.kernel.principals import Principal
from services.kernel.rpc import calls
from services.kernel.rpc.server import MAX_MESSAGE_BYTES
from services.kernel.rpc.signing import InternalCalls, SigningInterceptor, UploadSigningInterceptor
from services.kernel.rpc.status import from_rpc_error

R = TypeVar("R")


def channel(
    addr: str,
    internal: InternalCalls | None = None,
    acting_for: Callable[[Any], Principal | None] | None = None,
) -> grpc.aio.Channel:
    """A channel that spreads calls over every address the name resolves to (round robin);
    with `internal`, each call is signed for the current call's principal, or for the one
    `acting_for(request)` names (a service acting on its own, outside any call)."""
    signing: list[Any] | None = None
    if internal is not None:
        signing = [
            kind(internal)  # for the principal of the call being served
            if acting_for is None
            else kind(internal, acting_for)
            for kind in (SigningInterceptor, UploadSigningInterceptor)
        ]
    target = addr if "://" in addr or addr.startswith("dns:") else f"dns:///{addr}"
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
        interceptors=signing,
    )


def deadline_for(timeout: float) -> float:
    """The smaller of `timeout` and what is left of the caller's deadline: a peer never works
    on after the caller has given up. DeadlineExceeded when nothing is left."""
    remaining = calls.remaining_time()
    if remaining is None:
        return timeout
    if remaining <= 0:
        raise errors.DeadlineExceeded("the caller's deadline passed before the call to a peer")
    return min(timeout, remaining)


async def call(method: Callable[..., Awaitable[R]], request: Any, timeout: float) -> R:
    """Calls a peer with a deadline (see `deadline_for`) and the current trace; maps its
    status to a domain error."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    try:
        return await method(request, timeout=deadline_for(timeout), metadata=tuple(carrier.items()))
    except grpc.aio.AioRpcError as e:
        raise from_rpc_error(e) from e
