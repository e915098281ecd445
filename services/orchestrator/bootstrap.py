"""Wires the orchestrator: its migrations, the assets read model, consumers and servicer."""

from __future__ import annotations

from pathlib import Path

from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.runtime import App
from services.kernel.service_layer import ServiceLayer
from services.orchestrator.api.servicer import orchestrator_servicer
from services.orchestrator.config import OrchestratorConfig, load_orchestrator_config
from services.orchestrator.consumers.profiles import profiles_consumer
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(settings: ServiceSettings, config: OrchestratorConfig | None = None) -> App:
    config = config or load_orchestrator_config()  # a bad setting stops the start
    config.send_policy()  # the engine's send steps follow it
    return App(
        name="orchestrator",
        migrations=MIGRATIONS,
        unit_of_work=SqlOrchestratorUnitOfWork,
        projections=[AssetProjection()],  # the `assets` read model of journeys and templates
        consumers=lambda ctx: [profiles_consumer()],
        servicers=lambda ctx: [orchestrator_servicer(ServiceLayer(ctx.db, ctx.uow))],
    )
