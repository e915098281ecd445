"""Entry point from the INGEST stream: raw partner events become profile changes."""

from __future__ import annotations

from services.identity import handlers, mapping
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.kernel.messaging.consumer import ConsumerSpec, Handler
from services.kernel.messaging.envelope import Envelope

DURABLE = "identity-ingest"


def ingest_handler(rules: RulesCache, segments: SegmentsCache) -> Handler[IdentityUnitOfWork]:
    """Resolves each ingested event under its tenant's published identifier rules, and
    counts it under its live computed traits and audiences."""

    def on_event_ingested(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
        if envelope.type != mapping.EVENT_INGESTED:
            return
        command = mapping.command_from_ingested(envelope.payload)
        tenant_rules = rules.get(uow, command.tenant_id)
        handlers.apply_ingested_event(
            uow, command, envelope.event_id, tenant_rules, segments.get(uow, command.tenant_id)
        )

    return on_event_ingested


def ingest_consumer(rules: RulesCache, segments: SegmentsCache) -> ConsumerSpec[IdentityUnitOfWork]:
    return ConsumerSpec(DURABLE, "INGEST", "layercake.*.ingest", ingest_handler(rules, segments))
