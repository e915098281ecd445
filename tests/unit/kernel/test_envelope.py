"""CloudEvents binary mode over NATS headers, both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.kernel.messaging.envelope import (
    CONTENT_TYPE,
    MSG_ID,
    EnvelopeError,
    headers_for,
    open_envelope,
)
from services.kernel.store.records import OutboxMessage

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def message(subject_ref: str = "profile-9", traceparent: str = TRACEPARENT) -> OutboxMessage:
    return OutboxMessage(
        subject="layercake.acme.identity.profile_updated",
        type="layercake.events.v1.ProfileUpdated",
        payload=b"\x08\x01",
        tenant_id="acme",
        event_id="ev-1",
        source="identity",
        subject_ref=subject_ref,
        traceparent=traceparent,
    )


def test_headers_are_cloudevents_binary_mode_with_dedupe_id() -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    headers = headers_for(message(), when)
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "ev-1",
        "ce-source": "identity",
        "ce-type": "layercake.events.v1.ProfileUpdated",
        "ce-time": "2026-03-01T12:00:00+00:00",
        "ce-tenantid": "acme",
        "ce-subject": "profile-9",
        "traceparent": TRACEPARENT,
        "content-type": CONTENT_TYPE,
        MSG_ID: "ev-1",
    }


def test_optional_headers_are_left_out_when_empty() -> None:
    headers = headers_for(message(subject_ref="", traceparent=""), datetime.now(UTC))
    assert "ce-subject" not in headers
    assert "traceparent" not in headers


def test_time_is_written_in_utc() -> None:
    local = datetime(2026, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert headers_for(message(), local)["ce-time"] == "2026-03-01T12:00:00+00:00"


def test_roundtrip_keeps_every_attribute() -> None:
    sent = message()
    when = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    env = open_envelope(sent.subject, headers_for(sent, when), sent.payload)
    assert env.event_id == sent.event_id
    assert env.type == sent.type
    assert env.source == sent.source
    assert env.tenant_id == sent.tenant_id
    assert env.time == when
    assert env.payload == sent.payload
    assert env.nats_subject == sent.subject
    assert env.subject_ref == sent.subject_ref
    assert env.traceparent == TRACEPARENT
    assert env.carrier() == {"traceparent": TRACEPARENT}


def test_envelope_without_trace_has_an_empty_carrier() -> None:
    sent = message(traceparent="")
    env = open_envelope(sent.subject, headers_for(sent, datetime.now(UTC)), b"")
    assert env.carrier() == {}


@pytest.mark.parametrize("header", ["ce-id", "ce-type", "ce-tenantid"])
def test_a_missing_required_header_is_an_envelope_error_naming_it(header: str) -> None:
    headers = headers_for(message(), datetime.now(UTC))
    del headers[header]
    with pytest.raises(EnvelopeError, match=header):
        open_envelope("layercake.acme.identity.x", headers, b"")


def test_no_headers_at_all_is_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError, match="ce-id, ce-type, ce-tenantid"):
        open_envelope("layercake.acme.ingest", None, b"raw")


def test_a_time_without_an_offset_is_an_envelope_error() -> None:
    """CloudEvents times are RFC 3339: a naive time must not leak into the domain."""
    headers = headers_for(message(), datetime.now(UTC)) | {"ce-time": "2026-03-01T12:00:00"}
    with pytest.raises(EnvelopeError, match="offset"):
        open_envelope("layercake.acme.ingest", headers, b"")


def test_a_zulu_time_is_read_as_utc() -> None:
    headers = headers_for(message(), datetime.now(UTC)) | {"ce-time": "2026-03-01T12:00:00Z"}
    env = open_envelope("layercake.acme.ingest", headers, b"")
    assert env.time == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_bad_time_is_an_envelope_error() -> None:
    headers = headers_for(message(), datetime.now(UTC)) | {"ce-time": "yesterday"}
    with pytest.raises(EnvelopeError, match="yesterday"):
        open_envelope("layercake.acme.ingest", headers, b"")


def test_a_tenant_subject_carrying_another_tenants_event_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="does not match"):
        open_envelope(
            "layercake.acme.ingest",
            {"ce-id": "1", "ce-type": "T", "ce-tenantid": "globex"},
            b"",
        )
