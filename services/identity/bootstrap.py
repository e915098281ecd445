"""Wires the identity service: its key store, projections, consumers, caches, timers,
servicers, the eraser of forgotten people's stream messages and the relay's record of
where each message about a person went."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.identity import segmenting
from services.identity.api.servicer import identity_servicer
from services.identity.backfill import backfill_audience
from services.identity.config import IdentityConfig, load_identity_config
from services.identity.consumers.ingest import ingest_consumer
from services.identity.consumers.requests import requested_changes_consumers
from services.identity.domain.segments import Segments
from services.identity.rebuild import rebuild_windows
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.identity.store.audiences import BACKFILL, AudienceProjection
from services.identity.store.forgetting import record_relayed
from services.identity.store.keys import SqlProfileKeys
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.identity.store.windows import EXPIRY
from services.identity.stream_eraser import StreamEraser
from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer
from services.kernel.store.database import make_engine
from services.kernel.store.unit_of_work import UnitOfWork
from services.kernel.timers import AnyTimerHandler, Timer, TimerHandler

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def timer_handlers(segments: SegmentsCache) -> dict[str, AnyTimerHandler]:
    """Computed-trait windows expiring, audience backfills advancing."""

    def expire(uow: UnitOfWork, timer: Timer, _: None) -> None:
        assert isinstance(uow, SqlIdentityUnitOfWork)
        tenant = timer.tenant_id

        def refresh() -> Segments:
            segments.invalidate(tenant)
            return segments.get(uow, tenant)

        segmenting.expire_window(uow, timer, segments.get(uow, tenant), refresh)

    def backfill(uow: UnitOfWork, timer: Timer, _: None) -> None:
        assert isinstance(uow, SqlIdentityUnitOfWork)
        backfill_audience(uow, timer)

    return {EXPIRY: TimerHandler(apply=expire), BACKFILL: TimerHandler(apply=backfill)}


class Identity:
    """What lives as long as the process: the key store and the eraser's task."""

    def __init__(
        self, settings: ServiceSettings, config: IdentityConfig, rules: RulesCache
    ) -> None:
        self.rules = rules
        self.config = config
        self.keys = SqlProfileKeys.open(config.keys_url, config.key_cache)
        legacy = make_engine(settings.database_url, pool_size=1)
        try:
            self.keys.adopt(legacy)  # before identity's migration drops its old key table
        finally:
            legacy.dispose()
        self.eraser: StreamEraser | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def servicers(self, ctx: Context) -> list[Servicer]:
        layer = ServiceLayer(ctx.db, ctx.uow)
        self.eraser = StreamEraser(ctx.js, layer, self.config.erase_every, self.rules)
        return [identity_servicer(layer, self.eraser, ctx.js, self.rules.get)]

    async def start(self, ctx: Context) -> None:
        if self.eraser is not None:
            self._task = asyncio.create_task(self.eraser.run(self._stop))

    async def stop(self, ctx: Context) -> None:
        self._stop.set()
        if self.eraser is not None:
            self.eraser.notify()
        if self._task is not None:
            await self._task
        self.keys.close()


def build(settings: ServiceSettings, config: IdentityConfig | None = None) -> App:
    rules, segments = RulesCache(), SegmentsCache()
    identity = Identity(settings, config or load_identity_config(settings), rules)
    suppress = identity.config.suppress_forgotten
    return App(
        name="identity",
        migrations=MIGRATIONS,
        unit_of_work=SqlIdentityUnitOfWork.with_keys(identity.keys),
        projections=[
            ProfileProjection(identity.keys),
            AudienceProjection(),
            AssetProjection(),
        ],
        consumers=lambda ctx: [
            ingest_consumer(rules, segments, suppress),
            *requested_changes_consumers(segments),
        ],
        servicers=identity.servicers,
        broadcasts=lambda ctx: [rules.broadcast(), segments.broadcast()],
        timers=lambda ctx: timer_handlers(segments),
        on_start=identity.start,
        on_stop=identity.stop,
        rebuild=rebuild_windows,
        on_relayed=record_relayed,
    )
