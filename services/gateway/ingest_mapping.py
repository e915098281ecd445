"""Ingest events at the gateway's edge: what the rules read of a partner's event, and the
event as the INGEST stream carries it, made from its bytes without decoding them again."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from layercake.events.v1 import ingest_pb2
from layercake.gateway.v1 import gateway_service_pb2
from layercake.gateway.v1.ingest_pb2 import IngestEvent
from services.gateway.domain.ingest import PAYLOADS, IncomingEvent, Outcome, Status
from services.gateway.mapping import SOURCE
from services.kernel.clipping import DESCRIPTION_BYTES, FIELD_BYTES, clip
from services.kernel.messaging import subjects
from services.kernel.protobuf import plain_object
from services.kernel.protobuf import to_timestamp as ts
from services.kernel.store.records import OutboxMessage

EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name

# Fixed forever: ingest event ids are uuid5(INGEST_NAMESPACE, "<tenant>/<message_id>").
INGEST_NAMESPACE = uuid.UUID("6c0d2f5e-3f4b-5a8e-9a51-1a7e6b1c0de5")
_NAMESPACE_BYTES = INGEST_NAMESPACE.bytes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Payloads(Mapping[str, Mapping[str, object]]):
    """An event's traits, properties and context, each made plain JSON when first read: the
    rules walk only a payload big enough to break a bound, and a tracking plan reads them."""

    __slots__ = ("_event", "_plain")

    def __init__(self, event: IngestEvent) -> None:
        self._event = event
        self._plain: dict[str, Mapping[str, object]] = {}

    def __getitem__(self, name: str) -> Mapping[str, object]:
        found = self._plain.get(name)
        if found is None:
            if name not in PAYLOADS:
                raise KeyError(name)
            found = self._plain[name] = plain_object(getattr(self._event, name))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(PAYLOADS)

    def __len__(self) -> int:
        return len(PAYLOADS)


def incoming(event: IngestEvent, size: int) -> IncomingEvent:
    """What the ingest rules look at (`size`: the event's encoded bytes); a timestamp out of
    protobuf's range counts as missing."""
    timestamp: datetime | None = None
    consent = event.consent
    if event.HasField("timestamp"):
        stamp = event.timestamp
        try:
            timestamp = _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
        except OverflowError:
            timestamp = None
    return IncomingEvent(
        message_id=event.message_id,
        type=event.type,
        event=event.event,
        timestamp=timestamp,
        identifiers=plain_object(event.identifiers),
        consent={k: consent[k] for k in consent},  # by key: dict(map) costs twice as much
        payloads=_Payloads(event),
        size=size,
        payload_sizes={
            "traits": event.traits.ByteSize(),
            "properties": event.properties.ByteSize(),
            "context": event.context.ByteSize(),
        },
    )


def timed(event: IngestEvent, encoded: bytes, read: datetime | None, when: datetime) -> bytes:
    """The event's bytes with the time the rules settled on: as sent (`encoded`) unless the
    rules corrected `read`, the time sent, for the client's clock."""
    if when == read:
        return encoded
    corrected = IngestEvent()
    corrected.CopyFrom(event)
    corrected.timestamp.CopyFrom(ts(when))
    return corrected.SerializeToString()


def ingest_result(outcome: Outcome) -> gateway_service_pb2.IngestResult:
    return gateway_service_pb2.IngestResult(
        message_id=outcome.message_id,
        index=outcome.index,
        sequence=outcome.sequence,
        status=_STATUS[outcome.status],
        violations=[
            gateway_service_pb2.FieldViolation(
                field=clip(v.field, FIELD_BYTES), description=clip(v.description, DESCRIPTION_BYTES)
            )
            for v in outcome.violations
        ],
    )


_STATUS = {
    Status.ACCEPTED: gateway_service_pb2.IngestResult.STATUS_ACCEPTED,
    Status.DUPLICATE: gateway_service_pb2.IngestResult.STATUS_DUPLICATE,
    Status.REJECTED: gateway_service_pb2.IngestResult.STATUS_REJECTED,
}


def internal_event(event: IngestEvent) -> ingest_pb2.IngestEvent:
    """The partner's event as INGEST carries it: the two messages are wire-compatible (same
    field numbers and types, tested), so the bytes are read again as the other."""
    return ingest_pb2.IngestEvent.FromString(event.SerializeToString())


def ingest_event_id(tenant_id: str, message_id: str) -> str:
    """Deterministic per (tenant, message_id): a retry gets the same `ce-id`/`Nats-Msg-Id`.
    It is `str(uuid.uuid5(INGEST_NAMESPACE, "<tenant>/<message_id>"))`, written out (SHA-1,
    then the version and variant bits) so that a batch does not build a UUID per event."""
    name = f"{tenant_id}/{message_id}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_ingested(
    tenant_id: str,
    events: Sequence[tuple[str, bytes]],
    receive_time: datetime,
    api_key_id: str,
    traceparent: str = "",
) -> list[OutboxMessage]:
    """Each accepted event (its message id, its bytes as the partner's IngestEvent) as the
    INGEST stream carries it (CloudEvents by `headers_for`). The public and internal events
    share one wire, so each `EventIngested` is its fields' bytes put together around the
    event's own: nothing is parsed or encoded again per event."""
    head = ingest_pb2.EventIngested(tenant_id=tenant_id).SerializeToString()
    after = ingest_pb2.EventIngested(api_key_id=api_key_id)
    after.receive_time.CopyFrom(ts(receive_time))  # a keyword copies it at twice the cost
    tail = after.SerializeToString()
    subject = subjects.ingest(tenant_id)
    return [
        OutboxMessage(
            subject=subject,
            type=EVENT_INGESTED,
            payload=b"".join((head, _EVENT_TAG, _varint(len(data)), data, tail)),
            tenant_id=tenant_id,
            event_id=ingest_event_id(tenant_id, message_id),
            source=SOURCE,
            traceparent=traceparent,
            created_time=receive_time,
        )
        for message_id, data in events
    ]


# EventIngested.event (field 2) as encoded: its tag (length-delimited), then its length
_EVENT_TAG = bytes([2 << 3 | 2])


def _varint(value: int) -> bytes:
    """`value` as protobuf's base-128 varint (a length-delimited field's length)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
