"""The decision service's `Decide`, for a journey's decide step.

Asked in the step timer's prepare phase, before any transaction opens, as the system
principal `system:orchestrator` of the run's tenant. The request id names the run, step
and visit, so a timer whose prepare runs twice (a crash, a takeover by another replica) gets
the first decision back, the decision log keeps one decision per visit of the step, and a
journey looping back to the step is decided anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from layercake.decision.v1 import decision_service_pb2 as dpb
from layercake.decision.v1 import decision_service_pb2_grpc as dpb_grpc
from services.kernel.errors import NotFound
from services.kernel.principals import Actor, Principal, Role
from services.kernel.rpc import client
from services.kernel.rpc.signing import InternalCalls
from services.orchestrator.domain.instances.profiles import Decision

ACTOR = Actor.system("orchestrator")


def _as_orchestrator(request: Any) -> Principal:
    return Principal(request.tenant_id, ACTOR, frozenset({Role.VIEWER}))


class DecisionClient:
    """One channel to the decision service, opened on first use (inside the event loop)."""

    def __init__(self, addr: str, internal: InternalCalls) -> None:
        self.addr = addr
        self.internal = internal
        self._channel: grpc.aio.Channel | None = None
        self._stub: dpb_grpc.DecisionServiceAsyncStub | None = None

    def _decision(self) -> dpb_grpc.DecisionServiceAsyncStub:
        if self._stub is None:
            self._channel = client.channel(self.addr, self.internal, _as_orchestrator)
            self._stub = dpb_grpc.DecisionServiceStub(self._channel)
        return self._stub

    async def decide(
        self,
        tenant_id: str,
        profile_id: str,
        placement: str,
        timeout: float,
        request_id: str,
        context: Mapping[str, Any],
    ) -> Decision:
        """The best action for the placement in `context` (weather, location, stock...);
        NotFound when none is eligible (the step falls back), other errors as the kernel
        client maps them."""
        request = dpb.DecideRequest(
            request_id=request_id,
            tenant_id=tenant_id,
            profile_id=profile_id,
            placement=placement,
            max_actions=1,
        )
        if context:
            request.context.update(dict(context))
        response = await client.call(self._decision().Decide, request, timeout)
        if not response.actions:
            raise NotFound(f"no eligible action for placement {placement!r}")
        best = response.actions[0]
        attributes = dict(best.attributes)
        return Decision(
            action=best.action_id,
            product=attributes.get("product", ""),
            score=best.score,
            reasons=tuple(best.reasons),
            attributes=attributes,
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = self._stub = None
