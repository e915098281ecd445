"""Entry point from the INGEST stream: raw partner events become profile changes."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from services.identity import forgetting, handlers, mapping
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.identifiers import Identifier
from services.identity.ports import IdentityUnitOfWork
from services.identity.rules_cache import RulesCache
from services.identity.segments_cache import SegmentsCache
from services.kernel.errors import LayercakeError
from services.kernel.messaging.consumer import ConsumerSpec, Delivery
from services.kernel.messaging.envelope import Envelope

DURABLE = "identity-ingest"


class IngestHandler:
    """Resolves each ingested event under its tenant's published identifier rules, counts
    it under its live computed traits and audiences, and remembers which stream message
    fed which profile (for forgetting). `warm` reads a batch's identifiers at once first
    and keeps the events it decoded for their handlers."""

    def __init__(
        self, rules: RulesCache, segments: SegmentsCache, suppress_forgotten: bool = True
    ) -> None:
        self.rules = rules
        self.segments = segments
        self.suppress_forgotten = suppress_forgotten
        # the warmed batch's commands and their identifiers, by event id
        self._decoded: dict[str, tuple[ApplyIngestedEvent, tuple[Identifier, ...] | None]] = {}

    def warm(self, uow: IdentityUnitOfWork, deliveries: Sequence[Delivery]) -> None:
        decoded: dict[str, ApplyIngestedEvent] = {}
        for envelope in (d.envelope for d in deliveries):
            if envelope.type == mapping.EVENT_INGESTED:
                try:
                    decoded[envelope.event_id] = mapping.command_from_ingested(envelope.payload)
                except (DecodeError, LayercakeError, ValueError):
                    continue  # its handler reports it
        found = handlers.prefetch_ingested(
            uow,
            list(decoded.values()),
            lambda tenant: self.rules.get(uow, tenant),
            self.suppress_forgotten,
        )
        self._decoded = dict(zip(decoded, zip(decoded.values(), found, strict=True), strict=True))

    def __call__(self, uow: IdentityUnitOfWork, envelope: Envelope) -> None:
        if envelope.type != mapping.EVENT_INGESTED:
            return
        command, identifiers = self._decoded.pop(envelope.event_id, (None, None))
        if command is None:
            command = mapping.command_from_ingested(envelope.payload)
        forgetting.ingest_event(
            uow,
            command,
            envelope.event_id,
            self.rules.get(uow, command.tenant_id),
            self.segments.get(uow, command.tenant_id),
            envelope.stream_sequence,
            self.suppress_forgotten,
            identifiers,
        )


def ingest_handler(
    rules: RulesCache, segments: SegmentsCache, suppress_forgotten: bool = True
) -> IngestHandler:
    return IngestHandler(rules, segments, suppress_forgotten)


def ingest_consumer(
    rules: RulesCache,
    segments: SegmentsCache,
    suppress_forgotten: bool = True,
    *,
    durable: str = DURABLE,
    stream: str = "INGEST",
    filter_subject: str = "layercake.*.ingest",
) -> ConsumerSpec[IdentityUnitOfWork]:
    handler = ingest_handler(rules, segments, suppress_forgotten)
    return ConsumerSpec(durable, stream, filter_subject, handler, warm=handler.warm)
