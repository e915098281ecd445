"""Wires the identity service: its projections, consumers, caches and servicers."""

from __future__ import annotations

from pathlib import Path

from services.identity.api.servicer import identity_servicer
from services.identity.consumers.ingest import ingest_consumer
from services.identity.store.projection import ProfileProjection
from services.identity.store.rules_cache import RulesCache
from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.runtime import App

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(settings: ServiceSettings) -> App:
    rules = RulesCache()
    return App(
        name="identity",
        migrations=MIGRATIONS,
        projections=[ProfileProjection(), AssetProjection()],
        consumers=lambda ctx: [ingest_consumer(rules)],
        servicers=lambda ctx: [identity_servicer(ctx.db)],
        broadcasts=lambda ctx: [rules.broadcast()],
    )
