"""Ingested events move journeys: they enter people, end waits and meet goals.

A two-phase consumer of the INGEST stream. Before its transaction it keeps only events
some live journey of the tenant listens to (an entry, a wait_for_event or a goal) and asks
identity who the person is (by the event's surest identifier). Identity resolves a new
person from the same INGEST stream, so it is often a moment behind: an event it has not
resolved yet, or asked while it is down, is `NotReady`. The kernel runner then holds it
(not redelivered) and asks again after 250 ms, doubling to 1 s, until identity knows the
person, while the rest of the batch goes on: an entry follows identity's resolution
within a second, however long identity lagged (dead-lettered only when every delivery
waited the runner's `max_wait`, 10 min: identity refuses a forgotten person's events).
Inside the batch's transaction the engine applies it, exactly once (inbox), after the
warm step read what the batch's events need in bulk (their people's instance rows, then
the streams of the runs they touch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from layercake.events.v1 import ingest_pb2
from services.kernel.errors import NotReady
from services.kernel.messaging.consumer import ConsumerSpec, Delivery
from services.kernel.messaging.envelope import Envelope
from services.kernel.service_layer import ServiceLayer
from services.orchestrator.domain.instances.profiles import ProfileView, TriggerEvent
from services.orchestrator.engine import JourneyEngine
from services.orchestrator.mapping import EVENT_INGESTED, profile_refs, trigger_event
from services.orchestrator.ports import OrchestratorUnitOfWork, ProfileDirectory

DURABLE = "orchestrator-ingest"
MAX_LOOKUPS = 3  # identifiers asked of identity per event, surest first


@dataclass(frozen=True)
class Resolved:
    event: TriggerEvent
    profile: ProfileView


def listened_events(uow: OrchestratorUnitOfWork, tenant_id: str) -> frozenset[str]:
    """Event names the tenant's live journeys enter on, wait for or count as goals."""
    versions = uow.journeys.live_versions(tenant_id)
    return frozenset(name for _, j in versions for name in j.listens_to())


class Listened:
    """`listened_events` for the prepare steps: those running at once share one read per
    tenant (a fetch prepares hundreds of events together), and each read starts after
    the first of them asked, so none sees the journeys of before it began."""

    def __init__(self, layer: ServiceLayer[Any]) -> None:
        self.layer = layer
        self._reading: dict[str, asyncio.Future[frozenset[str]]] = {}

    async def __call__(self, tenant_id: str) -> frozenset[str]:
        reading = self._reading.get(tenant_id)
        if reading is None:
            reading = asyncio.ensure_future(self.layer.read(listened_events, tenant_id))
            self._reading[tenant_id] = reading
            reading.add_done_callback(lambda _: self._reading.pop(tenant_id, None))
        return await asyncio.shield(reading)


def ingest_consumer(
    engine: JourneyEngine, directory: ProfileDirectory, layer: ServiceLayer[Any]
) -> ConsumerSpec[OrchestratorUnitOfWork]:
    listened = Listened(layer)

    async def prepare(envelope: Envelope) -> Resolved | None:
        if envelope.type != EVENT_INGESTED:
            return None
        ingested = ingest_pb2.EventIngested.FromString(envelope.payload)
        event = trigger_event(ingested)
        tenant = envelope.tenant_id
        if not event.name or event.name not in await listened(tenant):
            return None
        for ref in profile_refs(ingested)[:MAX_LOOKUPS]:  # one a limit dropped: the next
            profile = await directory.find(tenant, ref)  # NotReady while identity is down
            if profile is not None:
                return Resolved(event, profile)
        raise NotReady(f"identity has not resolved message {event.message_id} yet")

    def warm(uow: OrchestratorUnitOfWork, deliveries: Sequence[Delivery]) -> None:
        found = [d.prepared for d in deliveries if isinstance(d.prepared, Resolved)]
        engine.prefetch_events(uow, [(r.event, r.profile) for r in found])

    def apply(uow: OrchestratorUnitOfWork, envelope: Envelope, prepared: Resolved | None) -> None:
        if prepared is not None:
            engine.on_event(uow, prepared.event, prepared.profile)

    return ConsumerSpec(DURABLE, "INGEST", "layercake.*.ingest", apply, prepare, warm=warm)
