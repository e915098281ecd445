"""Entry point from the INGEST stream: raw partner events become profile changes."""

from __future__ import annotations

from services.identity import handlers, mapping
from services.kernel.messaging.consumer import ConsumerSpec
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.unit_of_work import UnitOfWork

DURABLE = "identity-ingest"


def on_event_ingested(uow: UnitOfWork, envelope: Envelope) -> None:
    if envelope.type != mapping.EVENT_INGESTED:
        return
    command = mapping.command_from_ingested(envelope.payload)
    handlers.apply_ingested_event(uow, command, causation_id=envelope.event_id)


def ingest_consumer() -> ConsumerSpec[UnitOfWork]:
    return ConsumerSpec(DURABLE, "INGEST", "layercake.*.ingest", on_event_ingested)
