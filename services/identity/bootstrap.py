"""Wires the identity service: its projections, consumers, caches and servicers."""

from __future__ import annotations

from pathlib import Path

from services.identity import segmenting
from services.identity.api.servicer import identity_servicer
from services.identity.backfill import backfill_audience
from services.identity.consumers.ingest import ingest_consumer
from services.identity.domain.segments import Segments
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.identity.store.audiences import BACKFILL, AudienceProjection
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.identity.store.windows import EXPIRY
from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer
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


def build(settings: ServiceSettings) -> App:
    rules, segments = RulesCache(), SegmentsCache()
    return App(
        name="identity",
        migrations=MIGRATIONS,
        unit_of_work=SqlIdentityUnitOfWork,
        projections=[ProfileProjection(), AudienceProjection(), AssetProjection()],
        consumers=lambda ctx: [ingest_consumer(rules, segments)],
        servicers=lambda ctx: [identity_servicer(ServiceLayer(ctx.db, ctx.uow))],
        broadcasts=lambda ctx: [rules.broadcast(), segments.broadcast()],
        timers=lambda ctx: timer_handlers(segments),
    )
