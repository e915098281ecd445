"""The call being served: its method, its deadline and who makes it, for the code it runs.

The server interceptor opens a `Call` for each RPC in a context variable, so a
handler's outgoing calls inherit the caller's deadline and principal, and the
idempotency facility knows the method, without passing them down every layer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from services.kernel.errors import PermissionDenied, Unauthenticated
from services.kernel.principals import Principal


@dataclass(frozen=True)
class Call:
    """One RPC being served: `deadline` is on the `time.monotonic()` clock."""

    method: str
    deadline: float | None = None
    principal: Principal | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (at most 0), or None when there is none."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


_current: ContextVar[Call | None] = ContextVar("layercake_call", default=None)


@contextlib.contextmanager
def serving(call: Call) -> Iterator[Call]:
    """Makes `call` the current one for the block (the interceptor wraps each RPC in it)."""
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)


def current_call() -> Call | None:
    """The RPC being served, or None outside of one (a consumer, a timer, a command)."""
    return _current.get()


def remaining_time() -> float | None:
    """Seconds left of the caller's deadline, or None outside an RPC with a deadline."""
    call = _current.get()
    return None if call is None else call.remaining()


def act_as(principal: Principal) -> None:
    """Sets who the current call acts for: the gateway, once it has admitted an API key.

    Calls this handler makes to internal services are then signed for `principal`; outside
    an RPC (a test or a command admitting a key) there is nothing to sign for.
    """
    call = _current.get()
    if call is not None:
        _current.set(Call(call.method, call.deadline, principal))  # `replace` costs more


def current_principal() -> Principal:
    """Who the current call acts for (verified); Unauthenticated when nobody is known."""
    call = _current.get()
    if call is None or call.principal is None:
        raise Unauthenticated("the call carries no authenticated principal")
    return call.principal


def tenant_of(requested: str) -> str:
    """The tenant a request may act in: the principal's, which a request body can only repeat.

    An empty `requested` means the principal's tenant; another tenant is PermissionDenied.
    """
    tenant = current_principal().tenant_id
    if requested and requested != tenant:
        raise PermissionDenied(f"the caller acts for tenant {tenant!r}, not {requested[:80]!r}")
    return tenant
