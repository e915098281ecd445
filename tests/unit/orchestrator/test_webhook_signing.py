"""The one webhook signature: what a receiver accepts, and the tampered, foreign, stale and
replayed requests it refuses."""

from __future__ import annotations

from services.orchestrator.webhook_signing import (
    SIGNATURE,
    TIMESTAMP,
    TOLERANCE,
    signature,
    signed_headers,
    verify,
)

SECRET = b"s" * 32
BODY = b'{"send_id": "send:i-1:remind"}'
NOW = 1_790_000_000.7


def test_the_signature_covers_the_timestamp_and_the_body_under_the_secret() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    assert headers[TIMESTAMP] == "1790000000"
    assert headers[SIGNATURE].startswith("v1=")
    assert verify(SECRET, BODY, headers[TIMESTAMP], headers[SIGNATURE], NOW)
    # a receiver's clock a little off either way still accepts it
    assert verify(SECRET, BODY, headers[TIMESTAMP], headers[SIGNATURE], NOW + TOLERANCE - 1)
    assert verify(SECRET, BODY, headers[TIMESTAMP], headers[SIGNATURE], NOW - TOLERANCE)
    assert signature(SECRET, "1790000001", BODY) != headers[SIGNATURE]


def test_a_tampered_or_foreign_request_is_refused() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    timestamp, signed = headers[TIMESTAMP], headers[SIGNATURE]
    assert not verify(SECRET, BODY + b" ", timestamp, signed, NOW)
    assert not verify(b"t" * 32, BODY, timestamp, signed, NOW)
    assert not verify(SECRET, BODY, timestamp, signed.replace("v1=", "v0="), NOW)
    # the timestamp is signed: moving it forward to look fresh breaks the signature
    assert not verify(SECRET, BODY, str(int(NOW) + 1), signed, NOW)
    assert not verify(SECRET, BODY, "", signed, NOW)
    assert not verify(SECRET, BODY, "-1", signed, NOW)


def test_a_request_replayed_after_the_tolerance_is_refused() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    timestamp, signed = headers[TIMESTAMP], headers[SIGNATURE]
    assert not verify(SECRET, BODY, timestamp, signed, NOW + TOLERANCE + 1)
    assert not verify(SECRET, BODY, timestamp, signed, NOW - TOLERANCE - 1)  # from the future
    assert verify(SECRET, BODY, timestamp, signed, NOW + 3600, tolerance=7200)
