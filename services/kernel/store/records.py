"""The records the event store and the outbox deal in: plain, immutable data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

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
    `schema_version` the shape of `payload` (upcasters bring older shapes up to date)."""

    type: str
    payload: bytes
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = 1


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


@dataclass(frozen=True)
class OutboxMessage:
    """An integration event waiting in the outbox for the relay to publish it."""

    subject: str
    type: str
    payload: bytes
    tenant_id: str
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = ""
    traceparent: str = ""
    subject_ref: str = ""
    id: int | None = None
    created_time: datetime | None = None
