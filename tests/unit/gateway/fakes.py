"""In-memory stand-ins for the gateway's ports; the contract suite holds them to the real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

from layercake.common.v1 import common_pb2
from layercake.identity.v1 import identity_service_pb2 as ipb
from services.gateway.domain.tracking_plan import CompiledPlan
from services.gateway.ports import GatewayUnitOfWork
from services.gateway.store.memory import InMemoryGatewayUnitOfWork, in_memory
from services.kernel.clock import Clock, FixedClock
from services.kernel.store.memory import InMemoryLayer
from services.kernel.store.records import OutboxMessage

P = ParamSpec("P")
T = TypeVar("T")


class FakeIngestLog:
    """Keeps each appended batch as one message, numbered from 1."""

    def __init__(self) -> None:
        self.batches: list[list[OutboxMessage]] = []

    @property
    def messages(self) -> list[OutboxMessage]:
        """Every event written, in order."""
        return [m for batch in self.batches for m in batch]

    async def append(self, messages: Sequence[OutboxMessage]) -> int:
        if len({(m.subject, m.tenant_id) for m in messages}) != 1:
            raise ValueError("a batch holds one subject of one tenant")
        self.batches.append(list(messages))
        return len(self.batches)


class CountingLayer(InMemoryLayer[GatewayUnitOfWork]):
    """The service layer on the in-memory gateway store, counting its reads and runs; `gate`,
    when set, holds each read's answer until it is set (to race a read with a change), and
    `run_gate` each run (a write held back)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.db = in_memory(clock or FixedClock(datetime(2026, 3, 1, 12, tzinfo=UTC)))
        super().__init__(lambda: InMemoryGatewayUnitOfWork(self.db))
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.runs = 0
        self.run_gate: asyncio.Event | None = None  # when set, each run waits for it first

    async def read(
        self,
        query: Callable[Concatenate[GatewayUnitOfWork, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        self.reads += 1
        answer = await super().read(query, *args, **kwargs)
        if self.gate is not None:
            await self.gate.wait()
        return answer

    async def run(
        self,
        handler: Callable[Concatenate[GatewayUnitOfWork, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        self.runs += 1
        if self.run_gate is not None:
            await self.run_gate.wait()
        return await super().run(handler, *args, **kwargs)


class FakeProfiles:
    def __init__(self) -> None:
        self.requests: list[ipb.GetProfileRequest] = []

    async def get_profile(self, request: ipb.GetProfileRequest) -> ipb.GetProfileResponse:
        self.requests.append(request)
        return ipb.GetProfileResponse(
            profile=common_pb2.Profile(tenant_id=request.tenant_id, profile_id="p-1")
        )


class FakePlans:
    """The tenants' tracking plans, held as compiled; none by default."""

    def __init__(self, **plans: CompiledPlan) -> None:
        self.plans = plans

    async def get(self, tenant_id: str) -> CompiledPlan | None:
        return self.plans.get(tenant_id)
