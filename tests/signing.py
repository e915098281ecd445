"""Calls to internal services in tests, signed as the gateway signs them."""

from __future__ import annotations

import grpc

from services.kernel.principals import Actor, Principal, Role
from services.kernel.rpc.signing import InternalCalls, SigningInterceptor

SECRET = "tests-only-internal-secret-0123456789abcdef"
INTERNAL = InternalCalls(SECRET.encode())
ENV = {"LAYERCAKE_INTERNAL_SECRET": SECRET}  # what every test service process needs


def signed_channel(
    addr: str,
    tenant: str | None = None,
    internal: InternalCalls = INTERNAL,
    roles: frozenset[Role] = frozenset(),
) -> grpc.aio.Channel:
    """A channel to an internal service whose calls carry a valid signature: for `tenant`,
    or, without one, for the tenant each request names (as the gateway would sign for a key
    of that tenant), holding `roles`."""

    def acting_for(request: object) -> Principal:
        named = tenant if tenant is not None else str(getattr(request, "tenant_id", ""))
        return Principal(named, Actor.system("tests"), roles)

    return grpc.aio.insecure_channel(addr, interceptors=[SigningInterceptor(internal, acting_for)])
