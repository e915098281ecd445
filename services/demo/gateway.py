"""The story's only way in: the gateway's gRPC API and its Segment-compatible HTTP door,
with the keys a partner's people hold (an admin's, and an editor's, an approver's and an
operator's for four-eyes changes)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import grpc

from layercake.gateway.v1 import decisions_service_pb2 as dpb
from layercake.gateway.v1 import decisions_service_pb2_grpc as dgrpc
from layercake.gateway.v1 import facts_service_pb2 as fpb
from layercake.gateway.v1 import facts_service_pb2_grpc as fgrpc
from layercake.gateway.v1 import gateway_service_pb2 as gpb
from layercake.gateway.v1 import gateway_service_pb2_grpc as ggrpc
from layercake.gateway.v1 import ingest_pb2
from layercake.gateway.v1 import journeys_service_pb2 as jpb
from layercake.gateway.v1 import journeys_service_pb2_grpc as jgrpc
from layercake.gateway.v1 import profiles_service_pb2 as ppb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pgrpc

TIMEOUT = 15.0  # seconds, each call's deadline
CREW = {"editor": "editor", "approver": "approver", "operator": "operator"}  # id -> role


def request_id() -> str:
    return str(uuid.uuid4())


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@dataclass
class Crew:
    """Keys of the tenant's people: the admin's, and one per role of a four-eyes change."""

    admin: str
    editor: str = ""
    approver: str = ""
    operator: str = ""


@dataclass
class Gateway:
    """A partner's connection to the gateway: gRPC at `addr`, HTTP at `http_url`."""

    addr: str
    http_url: str
    crew: Crew
    channel: grpc.aio.Channel = field(init=False)

    async def __aenter__(self) -> Gateway:
        self.channel = grpc.aio.insecure_channel(self.addr)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.channel.close(None)

    @property
    def api(self) -> ggrpc.GatewayServiceAsyncStub:
        return ggrpc.GatewayServiceStub(self.channel)

    @property
    def profiles(self) -> pgrpc.ProfilesServiceAsyncStub:
        return pgrpc.ProfilesServiceStub(self.channel)

    @property
    def journeys(self) -> jgrpc.JourneysServiceAsyncStub:
        return jgrpc.JourneysServiceStub(self.channel)

    @property
    def facts(self) -> fgrpc.FactsServiceAsyncStub:
        return fgrpc.FactsServiceStub(self.channel)

    @property
    def decisions(self) -> dgrpc.DecisionsServiceAsyncStub:
        return dgrpc.DecisionsServiceStub(self.channel)

    # -- people ------------------------------------------------------------------------------

    async def hire_crew(self, suffix: str) -> None:
        """An editor, an approver and an operator (`story-<role>-<suffix>`), each with a key
        issued by the admin, so every asset change passes four eyes as a tenant's would."""
        admin = auth(self.crew.admin)
        for name, role in CREW.items():
            principal = f"story-{name}-{suffix}"
            await self.api.CreatePrincipal(
                gpb.CreatePrincipalRequest(
                    request_id=request_id(), principal_id=principal, kind="person", roles=[role]
                ),
                metadata=admin,
                timeout=TIMEOUT,
            )
            issued = await self.api.IssueApiKey(
                gpb.IssueApiKeyRequest(
                    request_id=request_id(), principal_id=principal, display_name="seed story"
                ),
                metadata=admin,
                timeout=TIMEOUT,
            )
            setattr(self.crew, name, issued.key)

    # -- events ------------------------------------------------------------------------------

    async def ingest(self, events: Sequence[ingest_pb2.IngestEvent]) -> list[gpb.IngestResult]:
        """gRPC Ingest, as a partner's server sends (the ad server, the web shop)."""
        reply = await self.api.Ingest(
            gpb.IngestRequest(events=events, request_id=request_id()),
            metadata=auth(self.crew.admin),
            timeout=TIMEOUT,
        )
        return list(reply.results)

    async def segment_batch(self, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """`POST /v1/batch` of Segment's HTTP Tracking API, as a mobile app's Segment SDK
        sends it (the API key is the write key, Basic auth)."""
        basic = base64.b64encode(f"{self.crew.admin}:".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with (
            aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
            session.post(f"{self.http_url}/v1/batch", json={"batch": list(messages)}) as answer,
        ):
            body: dict[str, Any] = await answer.json()
            if answer.status != 200:
                raise RuntimeError(f"the Segment door answered {answer.status}: {body}")
            return body

    # -- profiles ----------------------------------------------------------------------------

    async def profile(self, ref: str) -> ppb.Profile | None:
        """The profile `ref` (`type:value` or an id) resolves to; None while there is none."""
        try:
            reply = await self.profiles.GetProfile(
                ppb.GetProfileRequest(profile_ref=ref),
                metadata=auth(self.crew.admin),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.profile

    async def forget(self, ref: str) -> ppb.ForgetProfileResponse:
        return await self.profiles.ForgetProfile(
            ppb.ForgetProfileRequest(profile_ref=ref, request_id=request_id()),
            metadata=auth(self.crew.admin),
            timeout=TIMEOUT,
        )

    async def decide(self, ref: str, placement: str, context: dict[str, Any]) -> dpb.DecideResponse:
        request = dpb.DecideRequest(request_id=request_id(), profile_ref=ref, placement=placement)
        request.context.update(context)
        return await self.decisions.Decide(request, metadata=auth(self.crew.admin), timeout=TIMEOUT)

    async def set_stock(self, store: str, units: dict[str, int]) -> fpb.SetFactsResponse:
        """The shop's stock system reports levels at a store (a business fact)."""
        levels = [fpb.StockLevel(product=p, store=store, units=n) for p, n in units.items()]
        return await self.facts.SetFacts(
            fpb.SetFactsRequest(stock_levels=levels, request_id=request_id()),
            metadata=auth(self.crew.operator or self.crew.admin),
            timeout=TIMEOUT,
        )

    async def journey_counts(self, journey_id: str) -> dict[tuple[str, str], int]:
        """The journey's counts by (step, metric), over its versions."""
        reply = await self.journeys.GetJourneyStats(
            jpb.GetJourneyStatsRequest(journey_id=journey_id),
            metadata=auth(self.crew.admin),
            timeout=TIMEOUT,
        )
        counts: dict[tuple[str, str], int] = {}
        for c in reply.counts:
            counts[(c.step_id, c.metric)] = counts.get((c.step_id, c.metric), 0) + c.count
        return counts
