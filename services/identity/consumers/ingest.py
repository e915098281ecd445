"""Entry point from the INGEST stream: raw partner events become profile changes."""

from __future__ import annotations

from services.identity import forgetting, mapping
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.kernel.messaging.consumer import ConsumerSpec, Handler
from services.kernel.messaging.envelope import Envelope

DURABLE = "identity-ingest"


def ingest_handler(
    rules: RulesCache, segments: SegmentsCache, suppress_forgotten: bool = True
) -> Handler[IdentityUnitOfWork]:
    """Resolves each ingested event under its tenant's published identifier rules, counts
    it under its live computed traits and audiences, and remembers which stream message
    fed which profile (for forgetting)."""

    def on_event_ingested(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
        if envelope.type != mapping.EVENT_INGESTED:
            return
        command = mapping.command_from_ingested(envelope.payload)
        forgetting.ingest_event(
            uow,
            command,
            envelope.event_id,
            rules.get(uow, command.tenant_id),
            segments.get(uow, command.tenant_id),
            envelope.stream_sequence,
            suppress_forgotten,
        )

    return on_event_ingested


def ingest_consumer(
    rules: RulesCache, segments: SegmentsCache, suppress_forgotten: bool = True
) -> ConsumerSpec[IdentityUnitOfWork]:
    handler = ingest_handler(rules, segments, suppress_forgotten)
    return ConsumerSpec(DURABLE, "INGEST", "layercake.*.ingest", handler)
