"""Wires the decision service: its migrations, consumers, servicer and the served models."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.decision.api.models import ModelRpcs
from services.decision.api.servicer import decision_servicer
from services.decision.consumers.profiles import profiles_consumer
from services.decision.serving import ModelServing
from services.decision.store.unit_of_work import SqlDecisionUnitOfWork
from services.kernel.assets.projection import AssetProjection
from services.kernel.config import ServiceSettings
from services.kernel.messaging.broadcast import BroadcastSpec
from services.kernel.rpc.server import Servicer
from services.kernel.runtime import App, Context
from services.kernel.service_layer import ServiceLayer

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
PROJECTIONS = (AssetProjection(),)
SCORING_THREADS = 4  # onnxruntime releases the GIL; one thread per session keeps calls apart


class Decision:
    """The live parts: the model cache every replica keeps, and its scoring threads."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="scoring")
        self.serving: ModelServing | None = None

    def servicers(self, ctx: Context) -> list[Servicer]:
        layer = ServiceLayer(ctx.db, ctx.uow)
        self.serving = ModelServing(layer, self.executor)
        return [decision_servicer(layer, ModelRpcs(layer, self.serving, self.executor))]

    def broadcasts(self, ctx: Context) -> list[BroadcastSpec]:
        """Promotions published anywhere reach every replica's models."""
        assert self.serving is not None, "servicers() builds the model cache first"
        return [self.serving.broadcast()]

    async def stop(self, ctx: Context) -> None:
        self.executor.shutdown(wait=True)


def build(settings: ServiceSettings) -> App:
    decision = Decision()
    return App(
        name="decision",
        migrations=MIGRATIONS,
        unit_of_work=SqlDecisionUnitOfWork,
        projections=PROJECTIONS,
        consumers=lambda ctx: [profiles_consumer()],
        servicers=decision.servicers,
        broadcasts=decision.broadcasts,
        on_stop=decision.stop,
    )
