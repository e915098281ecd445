"""Wires the gateway: its projection and migrations, and the servicer with live adapters."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from layercake.decision.v1 import decision_service_pb2_grpc as dpb_grpc
from services.gateway import handlers
from services.gateway.adapters.identity import IdentityClient
from services.gateway.adapters.inference import InferenceClient
from services.gateway.adapters.ingest_log import JetStreamIngestLog
from services.gateway.adapters.orchestrator import OrchestratorClient
from services.gateway.adapters.peers import Peer
from services.gateway.api.auth import Gatekeeper, KeyDirectory
from services.gateway.api.decisions import DecisionClient, decisions_servicer
from services.gateway.api.facts import facts_servicer
from services.gateway.api.inference import inference_servicer
from services.gateway.api.journeys import journeys_servicer
from services.gateway.api.plans import PlanBook
from services.gateway.api.profiles import profiles_servicer
from services.gateway.api.send_settings import send_settings_servicer
from services.gateway.api.servicer import GatewayServicer, gateway_servicer
from services.gateway.api.status import HealthPeer, health_peers, status_servicer
from services.gateway.config import GatewayConfig, load_gateway_config
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.ingest_commits import IngestCommits
from services.gateway.rate_limits import SharedRateLimiter
from services.gateway.segment.server import SegmentDoor
from services.gateway.store.message_ids import seen_by_driver
from services.gateway.store.projection import TenantProjection
from services.gateway.store.unit_of_work import SqlGatewayUnitOfWork
from services.gateway.unsubscribe import UnsubscribeDoor
from services.kernel.config import ServiceSettings
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer
from services.kernel.unsubscribe import UnsubscribeLinks

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
PROJECTIONS = (TenantProjection(),)
PRUNE_INTERVAL = 60.0  # seconds between rounds of deleting expired message ids
PRUNE_BATCH = 1000  # rows per delete, so no round holds locks long
PRUNE_ROUNDS = 20  # deletes per round at most


class Gateway:
    """The live parts, made once the runtime has its adapters, and closed at stop."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.identity: IdentityClient | None = None
        self.orchestrator: OrchestratorClient | None = None
        self.decision: DecisionClient | None = None
        self.health: dict[str, HealthPeer] = {}  # each peer's health, for StatusService
        self.inference: InferenceClient | None = None
        self.keys: KeyDirectory | None = None
        self.gate: Gatekeeper | None = None
        self.pruner: asyncio.Task[None] | None = None
        self.door: SegmentDoor | None = None
        self.commits: IngestCommits | None = None
        self.http_addr = ""  # where the HTTP door listens, once started

    def servicers(self, ctx: Context) -> list[Servicer]:
        s = ctx.settings
        self.layer: ServiceLayer[SqlGatewayUnitOfWork] = ServiceLayer(ctx.db, ctx.uow)
        self.keys = KeyDirectory(self.layer)
        self.plans = PlanBook(self.layer)
        self.identity = IdentityClient(s.identity_addr, s.rpc_timeout, s.internal_calls())
        self.orchestrator = OrchestratorClient(
            s.orchestrator_addr, s.rpc_timeout, s.internal_calls()
        )
        self.decision = Peer(
            s.decision_addr, s.rpc_timeout, s.internal_calls(), dpb_grpc.DecisionServiceStub
        )
        addrs = {
            "identity": s.identity_addr,
            "orchestrator": s.orchestrator_addr,
            "decision": s.decision_addr,
        }
        self.health = health_peers(addrs, s.rpc_timeout, s.internal_calls())
        limiter = SharedRateLimiter(self.layer, self.config.rate_limit, self.config.rate_burst)
        rate = self.config.unknown_key_rate
        self.gate = Gatekeeper(self.keys, limiter, RateLimiter(rate, max(1.0, rate)))
        commits = IngestCommits(
            JetStreamIngestLog(ctx.js, ack_timeout=s.rpc_timeout),
            self.layer,
            seen=functools.partial(ctx.db.run, seen_by_driver, ctx.db.engine),
        )
        self.commits = commits
        servicer = GatewayServicer(
            self.gate, commits, self.layer, self.plans, ctx.clock, self.config
        )
        self.door = SegmentDoor(
            self.gate,
            commits,
            self.layer,
            self.plans,
            self.identity,
            ctx.clock,
            self.config,
            s.rpc_timeout,
            ready=lambda: bool(ctx.nc.is_connected),
            unsubscribe=UnsubscribeDoor(
                UnsubscribeLinks(s.internal_calls().secret), ctx.js, ctx.clock, s.rpc_timeout
            ),
        )
        self.inference = InferenceClient(s.decision_addr, s.rpc_timeout, s.internal_calls())
        return [
            gateway_servicer(servicer),
            profiles_servicer(self.gate, self.identity),
            decisions_servicer(self.gate, self.identity, self.decision),
            journeys_servicer(self.gate, self.orchestrator),
            facts_servicer(self.gate, self.orchestrator),
            send_settings_servicer(self.gate, self.orchestrator),
            status_servicer(self.gate, self.health, lambda: bool(ctx.nc.is_connected)),
            inference_servicer(self.gate, self.inference),
        ]

    def broadcasts(self, ctx: Context) -> list[BroadcastSpec]:
        """Key, role and tracking-plan changes made anywhere (another replica, the admin
        command) reach this replica's caches."""
        assert self.keys is not None, "servicers() builds the key directory first"
        return [self.keys.broadcast(), self.plans.broadcast()]

    async def start(self, ctx: Context) -> None:
        self.pruner = asyncio.create_task(self.prune(ctx))
        await self.start_http()

    async def start_http(self) -> str:
        """Opens the Segment-compatible HTTP door (after `servicers()`); returns its address."""
        assert self.door is not None, "servicers() builds the door first"
        self.http_addr = await self.door.start(self.config.http_addr)
        log.info("segment http door", extra={"http": self.http_addr})
        return self.http_addr

    async def prune(self, ctx: Context) -> None:
        """Deletes message ids whose dedupe window has ended, in bounded batches, forever."""
        layer: ServiceLayer[SqlGatewayUnitOfWork] = ServiceLayer(ctx.db, ctx.uow)
        while True:
            try:
                for _ in range(PRUNE_ROUNDS):
                    pruned = await layer.run(
                        handlers.prune_message_ids, ctx.clock.now(), PRUNE_BATCH
                    )
                    if pruned < PRUNE_BATCH:
                        break
            except Exception:
                log.exception("pruning expired message ids failed; trying again later")
            await asyncio.sleep(PRUNE_INTERVAL)

    async def stop(self, ctx: Context | None = None) -> None:
        if self.door is not None:
            await self.door.stop()
        if self.commits is not None:  # the ids answered so far, into the store
            await self.commits.remembered()
        if self.pruner is not None:
            self.pruner.cancel()
            await asyncio.gather(self.pruner, return_exceptions=True)
        for peer in (
            self.identity,
            self.orchestrator,
            self.decision,
            self.inference,
            *self.health.values(),
        ):
            if peer is not None:
                await peer.close()


def build(
    settings: ServiceSettings, config: GatewayConfig | None = None, gateway: Gateway | None = None
) -> App:
    """The gateway's process; `gateway` lets a test read where its HTTP door listens."""
    gateway = gateway or Gateway(config or load_gateway_config())
    return App(
        name="gateway",
        migrations=MIGRATIONS,
        projections=PROJECTIONS,
        unit_of_work=SqlGatewayUnitOfWork,
        servicers=gateway.servicers,
        broadcasts=gateway.broadcasts,
        on_start=gateway.start,
        on_stop=gateway.stop,
        public=True,  # partners' API keys, checked by its Gatekeeper
    )
