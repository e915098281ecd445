"""CloudEvents 1.0 binary mode over NATS headers; the body is the protobuf message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.kernel.messaging.subjects import tenant_of
from services.kernel.store.records import OutboxMessage

CONTENT_TYPE = "application/protobuf"
MSG_ID = "Nats-Msg-Id"


class EnvelopeError(ValueError):
    """A message lacks the CloudEvents headers every layercake event carries."""


@dataclass(frozen=True)
class Envelope:
    """A received event: CloudEvents attributes plus the protobuf body."""

    event_id: str
    type: str
    source: str
    tenant_id: str
    time: datetime
    payload: bytes
    nats_subject: str
    subject_ref: str = ""
    traceparent: str = ""
    stream_sequence: int = 0  # where JetStream keeps it (0: not read from a stream)
    dead_letter_error: str = ""  # read from a dead-letter subject: why it was given up on

    def carrier(self) -> dict[str, str]:
        return {"traceparent": self.traceparent} if self.traceparent else {}


def headers_for(message: OutboxMessage, time: datetime) -> dict[str, str]:
    """CloudEvents headers; `Nats-Msg-Id` = `ce-id` so JetStream drops a re-publish."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message.event_id,
        "ce-source": message.source,
        "ce-type": message.type,
        "ce-time": time.astimezone(UTC).isoformat(),
        "ce-tenantid": message.tenant_id,
        "content-type": CONTENT_TYPE,
        MSG_ID: message.event_id,
    }
    if message.subject_ref:
        headers["ce-subject"] = message.subject_ref
    if message.traceparent:
        headers["traceparent"] = message.traceparent
    return headers


def open_envelope(subject: str, headers: Mapping[str, str] | None, payload: bytes) -> Envelope:
    """Reads a received message; raises EnvelopeError when a required header is missing."""
    h = dict(headers or {})
    missing = [k for k in ("ce-id", "ce-type", "ce-tenantid") if not h.get(k)]
    if missing:
        raise EnvelopeError(f"missing headers {', '.join(missing)} on {subject}")
    token = tenant_of(subject)
    if token and token != h["ce-tenantid"]:
        # a tenant's subject only ever carries that tenant's events (NATS permissions key on it)
        raise EnvelopeError(f"ce-tenantid {h['ce-tenantid']!r} does not match subject {subject}")
    try:
        time = datetime.fromisoformat(h["ce-time"]) if h.get("ce-time") else datetime.now(UTC)
    except ValueError as e:
        raise EnvelopeError(f"bad ce-time {h['ce-time']!r}") from e
    if time.tzinfo is None:
        raise EnvelopeError(f"ce-time {h['ce-time']!r} has no UTC offset (RFC 3339)")
    return Envelope(
        event_id=h["ce-id"],
        type=h["ce-type"],
        source=h.get("ce-source", ""),
        tenant_id=h["ce-tenantid"],
        time=time,
        payload=payload,
        nats_subject=subject,
        subject_ref=h.get("ce-subject", ""),
        traceparent=h.get("traceparent", ""),
        dead_letter_error=h.get("lc-error", ""),
    )
