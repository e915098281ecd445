"""The records the event store and the outbox deal in: plain, immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.kernel.ids import new_id
from services.kernel.principals import Actor


@dataclass(frozen=True)
class EventMetadata:
    """Who and what caused an event; stored beside every event and carried on the wire."""

    tenant_id: str
    actor: Actor
    causation_id: str = ""
    correlation_id: str = ""
    traceparent: str = ""


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended: `type` is the full protobuf message name, and
    `schema_version` the shape of `payload` (upcasters bring older shapes up to date).
    `domain_event` is what the payload was encoded from (never stored): the projections of
    the append read it instead of decoding the payload again."""

    type: str
    payload: bytes
    event_id: str = field(default_factory=new_id)
    schema_version: int = 1
    domain_event: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: its global position and its version within its stream."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    payload: bytes
    metadata: EventMetadata
    recorded_time: datetime
    schema_version: int = 1
    # set only on the events an append hands its projections: see NewEvent
    domain_event: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OutboxMessage:
    """An integration event waiting in the outbox for the relay to publish it."""

    subject: str
    type: str
    payload: bytes
    tenant_id: str
    event_id: str = field(default_factory=new_id)
    source: str = ""
    traceparent: str = ""
    subject_ref: str = ""
    id: int | None = None
    created_time: datetime | None = None
