"""Protobuf <-> domain for the gateway: the one place that knows both."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from google.protobuf import json_format, struct_pb2

from layercake.events.v1 import gateway_events_pb2, ingest_pb2
from layercake.gateway.v1 import tenant_events_pb2 as te
from services.gateway.domain.events import ApiKeyIssued, ApiKeyRevoked, TenantCreated, TenantEvent
from services.gateway.domain.ingest import IncomingEvent
from services.kernel.messaging import subjects
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import OutboxMessage

EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
REVOKED_EVENT = gateway_events_pb2.ApiKeyRevoked.DESCRIPTOR.full_name
SOURCE = "gateway"

# Fixed forever: ingest event ids are uuid5(INGEST_NAMESPACE, "<tenant>/<message_id>").
INGEST_NAMESPACE = uuid.UUID("6c0d2f5e-3f4b-5a8e-9a51-1a7e6b1c0de5")


# Every event the gateway stores; a new one is a proto message, a dataclass and a line here.
EVENTS: EventTypes[TenantEvent, None] = EventTypes()
EVENTS.register(te.TenantCreated, TenantCreated)
EVENTS.register(te.ApiKeyIssued, ApiKeyIssued)
EVENTS.register(te.ApiKeyRevoked, ApiKeyRevoked)


def integration_event(
    tenant_id: str, event: TenantEvent, traceparent: str = ""
) -> OutboxMessage | None:
    """What every gateway replica must hear of (a revoked key), as published; None otherwise.

    Issued keys are not published: a replica that misses a key in its cache reads the store.
    """
    if not isinstance(event, ApiKeyRevoked):
        return None
    message = gateway_events_pb2.ApiKeyRevoked(
        tenant_id=tenant_id, key_id=event.key_id, revoke_time=to_timestamp(event.revoke_time)
    )
    return OutboxMessage(
        subject=subjects.integration(tenant_id, SOURCE, "api_key_revoked"),
        type=REVOKED_EVENT,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        source=SOURCE,
        subject_ref=event.key_id,
        traceparent=traceparent,
    )


def incoming(event: ingest_pb2.IngestEvent) -> IncomingEvent:
    """What the ingest rules look at; a timestamp out of protobuf's range counts as missing."""
    timestamp: datetime | None = None
    if event.HasField("timestamp"):
        try:
            timestamp = from_timestamp(event.timestamp)
        except (ValueError, OverflowError):
            timestamp = None
    return IncomingEvent(
        message_id=event.message_id,
        type=event.type,
        event=event.event,
        timestamp=timestamp,
        identifiers={k: _plain(v) for k, v in event.identifiers.fields.items()},
        consent=dict(event.consent),
    )


def _plain(value: struct_pb2.Value) -> object:
    """Strings and lists as Python values, without a full JSON conversion on the hot path."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    return json_format.MessageToDict(value)  # a number, bool, null or object: the rules refuse it


def ingest_event_id(tenant_id: str, message_id: str) -> str:
    """Deterministic per (tenant, message_id): a retry gets the same `ce-id`/`Nats-Msg-Id`."""
    return str(uuid.uuid5(INGEST_NAMESPACE, f"{tenant_id}/{message_id}"))


def event_ingested(
    tenant_id: str,
    events: Sequence[ingest_pb2.IngestEvent],
    receive_time: datetime,
    api_key_id: str,
    traceparent: str = "",
) -> list[OutboxMessage]:
    """Each accepted event as the INGEST stream carries it (CloudEvents by `headers_for`)."""
    received = to_timestamp(receive_time)
    subject = subjects.ingest(tenant_id)
    return [
        OutboxMessage(
            subject=subject,
            type=EVENT_INGESTED,
            payload=ingest_pb2.EventIngested(
                tenant_id=tenant_id, event=e, receive_time=received, api_key_id=api_key_id
            ).SerializeToString(),
            tenant_id=tenant_id,
            event_id=ingest_event_id(tenant_id, e.message_id),
            source=SOURCE,
            traceparent=traceparent,
            created_time=receive_time,
        )
        for e in events
    ]
