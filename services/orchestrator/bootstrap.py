"""Wires the orchestrator: its migrations, the assets read model, consumers and servicer."""

from __future__ import annotations

from pathlib import Path

from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer
from services.orchestrator.adapters.identity import IdentityTraits
from services.orchestrator.api.servicer import orchestrator_servicer
from services.orchestrator.config import OrchestratorConfig, load_orchestrator_config
from services.orchestrator.consumers.facts import facts_consumer
from services.orchestrator.consumers.feedback import feedback_consumer
from services.orchestrator.consumers.profiles import profiles_consumer
from services.orchestrator.consumers.renderer import renderer
from services.orchestrator.ports import OrchestratorUnitOfWork
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


class Orchestrator:
    """The adapters the orchestrator's consumers share, closed at shutdown."""

    def __init__(self, config: OrchestratorConfig) -> None:
        self.policy = config.send_policy()  # the engine's send steps follow it
        self.identity: IdentityTraits | None = None

    def consumers(self, ctx: Context) -> list[ConsumerSpec[OrchestratorUnitOfWork]]:
        s = ctx.settings
        self.identity = IdentityTraits(s.identity_addr, s.rpc_timeout, s.internal_calls())
        layer = ServiceLayer[SqlOrchestratorUnitOfWork](ctx.db, ctx.uow)
        return [
            profiles_consumer(),
            facts_consumer(),
            feedback_consumer(),
            renderer(layer, self.identity),
        ]

    async def stop(self, ctx: Context) -> None:
        if self.identity is not None:
            await self.identity.close()


def build(settings: ServiceSettings, config: OrchestratorConfig | None = None) -> App:
    orchestrator = Orchestrator(config or load_orchestrator_config())  # bad settings stop here
    return App(
        name="orchestrator",
        migrations=MIGRATIONS,
        unit_of_work=SqlOrchestratorUnitOfWork,
        projections=[AssetProjection()],  # the `assets` read model of journeys and templates
        consumers=orchestrator.consumers,
        servicers=lambda ctx: [orchestrator_servicer(ServiceLayer(ctx.db, ctx.uow))],
        on_stop=orchestrator.stop,
    )
