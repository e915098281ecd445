"""Wires the identity service: its projections, consumers, caches and servicers."""

from __future__ import annotations

from pathlib import Path

from services.identity.api.servicer import identity_servicer
from services.identity.consumers.ingest import ingest_consumer
from services.identity.rules_cache import RulesCache
from services.identity.store.projection import ProfileProjection
from services.identity.store.unit_of_work import SqlIdentityUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(settings: ServiceSettings) -> App:
    rules = RulesCache()
    return App(
        name="identity",
        migrations=MIGRATIONS,
        unit_of_work=SqlIdentityUnitOfWork,
        projections=[ProfileProjection(), AssetProjection()],
        consumers=lambda ctx: [ingest_consumer(rules)],
        servicers=lambda ctx: [identity_servicer(ServiceLayer(ctx.db, ctx.uow))],
        broadcasts=lambda ctx: [rules.broadcast()],
    )
