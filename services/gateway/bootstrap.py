"""Wires the gateway: its projection and migrations, and the servicer with live adapters."""

from __future__ import annotations

from pathlib import Path

from services.gateway.adapters.identity import IdentityClient
from services.gateway.adapters.ingest_log import JetStreamIngestLog
from services.gateway.api.auth import Gatekeeper, KeyDirectory
from services.gateway.api.servicer import GatewayServicer, gateway_servicer
from services.gateway.config import GatewayConfig, load_gateway_config
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.store.projection import TenantProjection
from services.kernel.config import ServiceSettings
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
PROJECTIONS = (TenantProjection(),)


class Gateway:
    """The live parts, made once the runtime has its adapters, and closed at stop."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.identity: IdentityClient | None = None
        self.keys: KeyDirectory | None = None
        self.gate: Gatekeeper | None = None

    def servicers(self, ctx: Context) -> list[Servicer]:
        s = ctx.settings
        self.keys = KeyDirectory(ctx.db)
        self.identity = IdentityClient(s.identity_addr, s.rpc_timeout)
        limiter = RateLimiter(self.config.rate_limit, self.config.rate_burst)
        self.gate = Gatekeeper(self.keys, limiter)
        servicer = GatewayServicer(
            self.gate,
            JetStreamIngestLog(ctx.js, ack_timeout=s.rpc_timeout),
            self.identity,
            ServiceLayer(ctx.db, ctx.uow),
            ctx.clock,
        )
        return [gateway_servicer(servicer)]

    def broadcasts(self, ctx: Context) -> list[BroadcastSpec]:
        """Key and role changes made anywhere (another replica, the admin command) reach
        this cache."""
        assert self.keys is not None, "servicers() builds the key directory first"
        return [self.keys.broadcast()]

    async def stop(self, ctx: Context | None = None) -> None:
        if self.identity is not None:
            await self.identity.close()


def build(settings: ServiceSettings, config: GatewayConfig | None = None) -> App:
    gateway = Gateway(config or load_gateway_config())
    return App(
        name="gateway",
        migrations=MIGRATIONS,
        projections=PROJECTIONS,
        servicers=gateway.servicers,
        broadcasts=gateway.broadcasts,
        on_stop=gateway.stop,
    )
