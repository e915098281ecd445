"""Wires the orchestrator: migrations, the assets read model, consumers, timers, servicer.

The journey engine's outside world comes in as ports: the send service under the
deployment's policy, identity, decision and webhooks by default; fakes from tests.
"""

from __future__ import annotations

from pathlib import Path

from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer
from services.orchestrator import sends
from services.orchestrator.adapters.decision import DecisionClient
from services.orchestrator.adapters.identity import IdentityTraits
from services.orchestrator.adapters.webhooks import HttpWebhooks
from services.orchestrator.api.servicer import orchestrator_servicer
from services.orchestrator.config import OrchestratorConfig, load_orchestrator_config
from services.orchestrator.consumers.back_in_stock import back_in_stock_consumer
from services.orchestrator.consumers.facts import facts_consumer
from services.orchestrator.consumers.feedback import feedback_consumer
from services.orchestrator.consumers.ingest import ingest_consumer
from services.orchestrator.consumers.profiles import profiles_consumer
from services.orchestrator.consumers.renderer import render_failures, renderer
from services.orchestrator.domain.sending import SendOutcome, SendRequest
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.ports import Decider, OrchestratorUnitOfWork, ProfileDirectory, Webhooks
from services.orchestrator.repositories import TIMER_KIND
from services.orchestrator.schedule import SCHEDULE_KIND, schedule_timers
from services.orchestrator.send_settings import SendPolicies
from services.orchestrator.store.unit_of_work import SqlOrchestratorUnitOfWork
from services.orchestrator.timers import journey_timers
from services.orchestrator.trait_replay import trait_names_rebuild

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def journey_engine(
    config: OrchestratorConfig, policies: SendPolicies | None = None
) -> JourneyEngine:
    """The engine, its send steps under each tenant's send policy (its own settings over
    the deployment's)."""
    found = policies or SendPolicies(config.send_policy())

    def send(uow: OrchestratorUnitOfWork, request: SendRequest) -> SendOutcome:
        return sends.send(uow, found.policy(uow, request.tenant_id), request)

    return JourneyEngine(send)


class Orchestrator:
    """The adapters the consumers, timers and servicer share: made once serving starts
    (migrate and replay need neither peers nor secrets), closed at shutdown; a test's
    fake directory and decider are used as given."""

    def __init__(
        self,
        config: OrchestratorConfig,
        directory: ProfileDirectory | None = None,
        decider: Decider | None = None,
    ) -> None:
        self.config = config
        self.policies = SendPolicies(config.send_policy())
        self.engine = journey_engine(config, self.policies)
        self._decider = decider
        self._decision: DecisionClient | None = None
        self._directory = directory
        self.identity: IdentityTraits | None = None
        self._webhooks: HttpWebhooks | None = None

    def _identity(self, ctx: Context) -> IdentityTraits:
        if self.identity is None:
            s = ctx.settings
            self.identity = IdentityTraits(s.identity_addr, s.rpc_timeout, s.internal_calls())
        return self.identity

    def directory(self, ctx: Context) -> ProfileDirectory:
        return self._directory or self._identity(ctx)

    def decider(self, ctx: Context) -> Decider:
        if self._decider is None:
            s = ctx.settings
            self._decider = self._decision = DecisionClient(s.decision_addr, s.internal_calls())
        return self._decider

    def webhooks(self) -> Webhooks | None:
        secret = self.config.webhook_secret
        if self._webhooks is None and secret is not None:
            key = secret.get_secret_value().encode()
            self._webhooks = HttpWebhooks(key, self.config.webhook_timeout)
        return self._webhooks

    def layer(self, ctx: Context) -> ServiceLayer[SqlOrchestratorUnitOfWork]:
        return ServiceLayer(ctx.db, ctx.uow)

    def consumers(self, ctx: Context) -> list[ConsumerSpec[OrchestratorUnitOfWork]]:
        layer = self.layer(ctx)
        return [
            profiles_consumer(self.engine, self.directory(ctx), layer),
            ingest_consumer(self.engine, self.directory(ctx), layer),
            facts_consumer(),
            back_in_stock_consumer(self.engine, self.directory(ctx), layer),
            feedback_consumer(),
            renderer(layer, self._identity(ctx)),
            render_failures(),
        ]

    async def stop(self, ctx: Context) -> None:
        if self.identity is not None:
            await self.identity.close()
        if self._decision is not None:
            await self._decision.close()
        if self._webhooks is not None:
            await self._webhooks.close()


def build(
    settings: ServiceSettings,
    config: OrchestratorConfig | None = None,
    *,
    directory: ProfileDirectory | None = None,
    decider: Decider | None = None,
) -> App:
    orchestrator = Orchestrator(config or load_orchestrator_config(), directory, decider)
    o = orchestrator
    return App(
        name="orchestrator",
        migrations=MIGRATIONS,
        unit_of_work=SqlOrchestratorUnitOfWork,
        projections=[AssetProjection()],  # the `assets` read model of journeys and templates
        consumers=o.consumers,
        timers=lambda ctx: {
            TIMER_KIND: journey_timers(o.engine, o.directory(ctx), o.decider(ctx), o.webhooks()),
            SCHEDULE_KIND: schedule_timers(o.engine),
        },
        servicers=lambda ctx: [
            orchestrator_servicer(o.layer(ctx), o.engine, o.directory(ctx), o.policies)
        ],
        broadcasts=lambda ctx: [o.policies.broadcast()],
        on_stop=o.stop,
        rebuild=trait_names_rebuild(settings.nats_url),  # `replay`: traits from identity's stream
    )
