"""What every public servicer of the gateway shares: admitting the caller at the door with
the scope the RPC declared (`scopes`)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from services.gateway.api import scopes
from services.gateway.api.auth import Gatekeeper
from services.gateway.domain.keys import Caller
from services.kernel.errors import Violations
from services.kernel.rpc import calls

Context = grpc.aio.ServicerContext[Any, Any]


class PublicRpcs:
    """Base of the gateway's public servicers."""

    def __init__(self, gate: Gatekeeper) -> None:
        self.gate = gate

    async def admit(self, context: Context, cost: int = 1) -> Caller:
        """Authenticates the key, checks the scope this RPC declared, charges `cost` to its
        rate; the caller's calls to peers are signed for its principal."""
        call = calls.current_call()
        method = call.method if call is not None else ""
        metadata = context.invocation_metadata() or ()
        return await self.gate.admit(metadata, scopes.needed(method), cost)


def required(request: Message, *fields: str) -> None:
    """INVALID_ARGUMENT naming each of `fields` the request leaves empty."""
    bad = Violations()
    for name in fields:
        value: Any = getattr(request, name)
        bad.require(value.strip() if isinstance(value, str) else value, name)
    bad.raise_if_any()
