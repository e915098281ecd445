"""Back in stock -> back into the journey: the orchestrator follows its own BackInStock.

A two-phase consumer of `layercake.<tenant>.orchestrator.back_in_stock` (stream
ORCHESTRATOR). Before its transaction it keeps only messages for a live journey that asks
for back-in-stock re-entries and asks identity for the person (a merged-away profile's
survivor, as identity answers); in the transaction the engine re-enters them once (inbox).
A person identity no longer knows (forgotten) is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from layercake.orchestrator.v1 import facts_pb2
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.service_layer import ServiceLayer
from services.orchestrator.domain.facts import StockWaiter
from services.orchestrator.domain.instances.profiles import ProfileView
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.mapping import BACK_IN_STOCK, stock_waiter
from services.orchestrator.ports import OrchestratorUnitOfWork, ProfileDirectory

log = logging.getLogger(__name__)
DURABLE = "orchestrator-back-in-stock"


@dataclass(frozen=True)
class Restocked:
    profile: ProfileView
    waiter: StockWaiter
    units: int


def restocking_journeys(uow: OrchestratorUnitOfWork, tenant_id: str) -> frozenset[str]:
    """The tenant's live journeys that take people back in when stock returns."""
    versions = uow.journeys.live_versions(tenant_id)
    return frozenset(j.journey_id for _, j in versions if j.definition.reentry.back_in_stock)


def back_in_stock_consumer(
    engine: JourneyEngine, directory: ProfileDirectory, layer: ServiceLayer[Any]
) -> ConsumerSpec[OrchestratorUnitOfWork]:
    async def prepare(envelope: Envelope) -> Restocked | None:
        if envelope.type != BACK_IN_STOCK:
            return None
        message = facts_pb2.BackInStock.FromString(envelope.payload)
        tenant = envelope.tenant_id
        if message.journey_id not in await layer.read(restocking_journeys, tenant):
            return None
        profile = await directory.find(tenant, message.profile_id)
        if profile is None:
            log.info("back in stock for a profile identity does not know, skipped")
            return None
        return Restocked(profile, stock_waiter(message), message.units)

    def apply(uow: OrchestratorUnitOfWork, envelope: Envelope, found: Restocked | None) -> None:
        if found is not None:
            engine.on_back_in_stock(
                uow, found.profile, found.waiter, found.units, envelope.event_id
            )

    return ConsumerSpec(
        DURABLE, "ORCHESTRATOR", "layercake.*.orchestrator.back_in_stock", apply, prepare
    )
