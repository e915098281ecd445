"""Many events in one JetStream message: the writer's one disk flush, the reader's many events.

With `sync_interval: always` every stored message costs a flush, so a producer that
accepts events in batches (the gateway's ingest) writes each batch as one message:
an `EventBatch` body under CloudEvents headers of its own (`ce-type` names the batch
type, `ce-tenantid` the one tenant of all its entries). Readers open any message with
`open_envelopes`, which gives a batch's entries as envelopes of their own, each with
its own event id, so a consumer applies each once (its inbox) as if it came alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from layercake.events.v1 import batch_pb2
from services.kernel.messaging.envelope import Envelope, EnvelopeError, headers_for, open_envelope
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.records import OutboxMessage

BATCH_TYPE = batch_pb2.EventBatch.DESCRIPTOR.full_name


def batch_message(
    messages: Sequence[OutboxMessage], batch_id: str, time: datetime
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one message carrying `messages` (one subject, one tenant);
    `batch_id` is its `ce-id` and `Nats-Msg-Id`, so a re-publish of the same batch is dropped."""
    first = messages[0]
    if any(m.subject != first.subject or m.tenant_id != first.tenant_id for m in messages):
        raise ValueError("a batch holds one subject of one tenant")
    batch = batch_pb2.EventBatch()
    stamps: dict[datetime, Timestamp] = {}  # events of one request share their time
    for m in messages:
        at = m.created_time or time
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = to_timestamp(at)
        batch.events.add(
            id=m.event_id,
            type=m.type,
            time=stamp,
            subject=m.subject_ref,
            traceparent=m.traceparent,
            data=m.payload,
        )
    header = OutboxMessage(
        subject=first.subject,
        type=BATCH_TYPE,
        payload=b"",
        tenant_id=first.tenant_id,
        event_id=batch_id,
        source=first.source,
    )
    return headers_for(header, time), batch.SerializeToString()


def open_envelopes(
    subject: str, headers: Mapping[str, str] | None, payload: bytes, stream_sequence: int = 0
) -> list[Envelope]:
    """The events a received message carries, each as its own envelope at the message's
    stream sequence; EnvelopeError when the headers or the batch body are not readable."""
    outer = replace(open_envelope(subject, headers, payload), stream_sequence=stream_sequence)
    if outer.type != BATCH_TYPE:
        return [outer]
    try:
        batch = batch_pb2.EventBatch.FromString(payload)
    except Exception as e:  # DecodeError: the message is not what its type says
        raise EnvelopeError(f"unreadable {BATCH_TYPE} on {subject}: {e}") from e
    return [_entry(outer, e) for e in batch.events]


def _entry(outer: Envelope, entry: batch_pb2.BatchedEvent) -> Envelope:
    if not entry.id or not entry.type:
        raise EnvelopeError(f"a batched event without id or type on {outer.nats_subject}")
    return Envelope(
        event_id=entry.id,
        type=entry.type,
        source=outer.source,
        tenant_id=outer.tenant_id,
        time=from_timestamp(entry.time) if entry.HasField("time") else outer.time,
        payload=entry.data,
        nats_subject=outer.nats_subject,
        subject_ref=entry.subject,
        traceparent=entry.traceparent or outer.traceparent,
        stream_sequence=outer.stream_sequence,
    )


def without(payload: bytes, event_ids: Collection[str]) -> tuple[bytes, int]:
    """A batch body less the events `event_ids` names, and how many are left."""
    batch = batch_pb2.EventBatch.FromString(payload)
    kept = [e for e in batch.events if e.id not in event_ids]
    return batch_pb2.EventBatch(events=kept).SerializeToString(), len(kept)
