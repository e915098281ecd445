"""Wires the decision service: its migrations, consumers, servicer, models and catalogs."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.decision.api.decisions import DecisionRpcs
from services.decision.api.inference import inference_servicer
from services.decision.api.models import ModelRpcs
from services.decision.api.servicer import decision_servicer
from services.decision.catalogs import Catalogs
from services.decision.consumers.outcomes import outcomes_consumer
from services.decision.consumers.profiles import profiles_consumer
from services.decision.deciding import Decider
from services.decision.exposures import ExposureCounts
from services.decision.inference import InferenceModels
from services.decision.logging import DecisionLogWriter
from services.decision.profiles import ProfileFeatureCache
from services.decision.serving import ModelServing
from services.decision.store.model_files import configured_model_dir
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork, decision_unit_of_work
from services.kernel.assets.projection import AssetProjection
from services.kernel.clock import Clock
from services.kernel.config import ServiceSettings
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
PROJECTIONS = (AssetProjection(),)
SCORING_THREADS = 4  # onnxruntime releases the GIL; one thread per session keeps calls apart


@dataclass(frozen=True)
class Parts:
    """What one replica serves with: its model and catalog caches, and the servicer."""

    serving: ModelServing
    catalogs: Catalogs
    profiles: ProfileFeatureCache
    log: DecisionLogWriter
    exposures: ExposureCounts
    servicer: Servicer
    inference: Servicer  # the Open Inference Protocol, which the gateway forwards to

    def broadcasts(self) -> list[BroadcastSpec]:
        """Promotions, catalog changes, the log's counters and identity's profile changes
        reach every replica."""
        return [
            self.serving.broadcast(),
            self.catalogs.broadcast(),
            *self.exposures.broadcasts(),
            self.profiles.broadcast(),
        ]


def parts(layer: ServiceLayer[SqlDecisionUnitOfWork], executor: Executor, clock: Clock) -> Parts:
    serving = ModelServing(layer, executor)
    catalogs = Catalogs(layer)
    profiles = ProfileFeatureCache(layer, clock)
    exposures = ExposureCounts(layer)
    log = DecisionLogWriter(layer, exposures)
    decider = Decider(catalogs, serving, profiles, clock, log, exposures)
    servicer = decision_servicer(
        layer, ModelRpcs(layer, serving, executor, catalogs), DecisionRpcs(layer, decider)
    )
    inference = inference_servicer(InferenceModels(layer, serving, executor))
    return Parts(serving, catalogs, profiles, log, exposures, servicer, inference)


class Decision:
    """The live parts of the process, and the scoring threads they share."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="scoring")
        self.parts: Parts | None = None
        self.stopping = asyncio.Event()
        self.writing: asyncio.Task[None] | None = None

    def servicers(self, ctx: Context) -> list[Servicer]:
        self.parts = parts(ServiceLayer(ctx.db, ctx.uow), self.executor, ctx.clock)
        return [self.parts.servicer, self.parts.inference]

    def broadcasts(self, ctx: Context) -> list[BroadcastSpec]:
        assert self.parts is not None, "servicers() builds the caches first"
        return self.parts.broadcasts()

    async def start(self, ctx: Context) -> None:
        assert self.parts is not None, "servicers() builds the log writer first"
        self.writing = asyncio.create_task(self.parts.log.run(self.stopping))

    async def stop(self, ctx: Context) -> None:
        """Writes the decisions still queued (before the runtime flushes the outbox)."""
        self.stopping.set()
        if self.writing is not None:
            await self.writing
        self.executor.shutdown(wait=True)


def build(settings: ServiceSettings) -> App:
    decision = Decision()
    return App(
        name="decision",
        migrations=MIGRATIONS,
        unit_of_work=decision_unit_of_work(configured_model_dir()),
        projections=PROJECTIONS,
        consumers=lambda ctx: [profiles_consumer(), outcomes_consumer()],
        servicers=decision.servicers,
        broadcasts=decision.broadcasts,
        on_start=decision.start,
        on_stop=decision.stop,
    )
