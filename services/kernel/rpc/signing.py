"""Signed internal calls: the gateway vouches for who acts, internal services check it.

The gateway authenticates a partner's API key, then stamps the tenant and principal
onto each call it makes to an internal service, signed with HMAC-SHA-256 under the
deployment's `LAYERCAKE_INTERNAL_SECRET`. The signature covers the tenant, the
actor, the roles, the method and the time it was issued, and lapses after
`VALIDITY` seconds, so reaching an internal port lets nobody act as any tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from services.kernel.errors import Unauthenticated
from services.kernel.principals import Actor, Principal, Role
from services.kernel.rpc import calls

TENANT = "x-layercake-tenant"
ACTOR = "x-layercake-actor"
ROLES = "x-layercake-roles"
ISSUED = "x-layercake-issued"
SIGNATURE = "x-layercake-signature"
VERSION = "v1"
VALIDITY = 60.0  # seconds either side of the issue time: short, yet tolerant of clock skew
MIN_SECRET = 32


def _signed_text(tenant: str, actor: str, roles: str, method: str, issued: str) -> bytes:
    """An unambiguous encoding of what the signature covers (JSON escapes any separator)."""
    return json.dumps([VERSION, tenant, actor, roles, method, issued]).encode()


@dataclass(frozen=True)
class InternalCalls:
    """Signs outgoing internal calls and verifies incoming ones, with one shared secret."""

    secret: bytes = field(repr=False)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET:
            raise ValueError(f"the internal secret must have at least {MIN_SECRET} bytes")

    def _mac(self, text: bytes) -> str:
        return f"{VERSION}={hmac.new(self.secret, text, hashlib.sha256).hexdigest()}"

    def stamp(self, principal: Principal, method: str) -> list[tuple[str, str]]:
        """The metadata that vouches for `principal` on one call of `method`."""
        actor = str(principal.actor)
        roles = ",".join(sorted(r.value for r in principal.roles))
        issued = str(int(self.clock()))
        text = _signed_text(principal.tenant_id, actor, roles, method, issued)
        return [
            (TENANT, principal.tenant_id),
            (ACTOR, actor),
            (ROLES, roles),
            (ISSUED, issued),
            (SIGNATURE, self._mac(text)),
        ]

    def verify(self, metadata: Mapping[str, str], method: str) -> Principal:
        """The principal a valid, current signature vouches for; Unauthenticated otherwise."""
        values = [metadata.get(k) for k in (TENANT, ACTOR, ROLES, ISSUED, SIGNATURE)]
        tenant, actor, roles, issued, signature = values
        if tenant is None or actor is None or roles is None or issued is None or not signature:
            raise Unauthenticated("internal call without the gateway's signature")
        expected = self._mac(_signed_text(tenant, actor, roles, method, issued))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Unauthenticated("internal call with an invalid signature")
        if not issued.isdigit() or abs(self.clock() - int(issued)) > VALIDITY:
            raise Unauthenticated("internal call signature expired; check the clocks")
        try:
            return Principal(
                tenant, Actor.parse(actor), frozenset(Role(r) for r in roles.split(",") if r)
            )
        except ValueError:  # signed, so ours: only a mismatched deployment gets here
            raise Unauthenticated(
                "internal call with a principal this service cannot read"
            ) from None


def _current_principal(_request: Any) -> Principal | None:
    call = calls.current_call()
    return None if call is None else call.principal


class _Signer:
    """Stamps each outgoing call for the principal `acting_for(request)` names, when there is
    one: by default the principal of the call being served (the gateway's admitted key)."""

    def __init__(
        self,
        internal: InternalCalls,
        acting_for: Callable[[Any], Principal | None] = _current_principal,
    ) -> None:
        self.internal = internal
        self.acting_for = acting_for

    def _signed(
        self, details: grpc.aio.ClientCallDetails, request: Any
    ) -> grpc.aio.ClientCallDetails:
        principal = self.acting_for(request)
        if principal is not None:
            method = (
                details.method.decode() if isinstance(details.method, bytes) else details.method
            )
            metadata = grpc.aio.Metadata(*(details.metadata or ()))
            for key, value in self.internal.stamp(principal, method):
                metadata.add(key, value)
            details = grpc.aio.ClientCallDetails(
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                details.wait_for_ready,
            )
        return details


class SigningInterceptor(_Signer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Signs unary calls."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._signed(details, request), request)


class UploadSigningInterceptor(_Signer, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[type-arg]
    """Signs uploads (client streams); `acting_for` is asked about the stream. (grpc.aio files
    an interceptor under one kind only, hence a class per kind.)"""

    async def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._signed(details, request_iterator), request_iterator)
