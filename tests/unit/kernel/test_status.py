"""Domain errors become google.rpc.Status with the details callers rely on."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.kernel import errors
from services.kernel.rpc.status import DOMAIN, internal_status, to_status

DETAILS_KEY = "grpc-status-details-bin"


def decode(status: grpc.Status) -> status_pb2.Status:
    """The rich status carried in the trailing metadata, as a client would read it."""
    blobs = [v for k, v in status.trailing_metadata if k == DETAILS_KEY]
    assert len(blobs) == 1
    return status_pb2.Status.FromString(blobs[0])


def details_of(rich: status_pb2.Status, kind: type) -> list:  # type: ignore[type-arg]
    found = []
    for d in rich.details:
        message = kind()
        if d.Unpack(message):
            found.append(message)
    return found


def test_invalid_argument_names_every_bad_field() -> None:
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("tenant_id", "is required"),
            errors.FieldViolation("events[2].message_id", "is duplicated"),
        ]
    )
    status = to_status(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant_id: is required" in status.details
    rich = decode(status)
    assert rich.code == code_pb2.INVALID_ARGUMENT
    assert rich.message == status.details
    (bad,) = details_of(rich, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("tenant_id", "is required"),
        ("events[2].message_id", "is duplicated"),
    ]
    (info,) = details_of(rich, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)


def test_resource_exhausted_carries_retry_info() -> None:
    status = to_status(errors.ResourceExhausted("quota of key k1 used up", retry_after=1.25))
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status.details == "quota of key k1 used up"
    (retry,) = details_of(decode(status), error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToNanoseconds() == 1_250_000_000
    assert details_of(decode(status), error_details_pb2.BadRequest) == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NotFound("no profile"), grpc.StatusCode.NOT_FOUND),
        (errors.Unauthenticated("unknown key"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied("scope missing"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.ConcurrencyError("stream moved"), grpc.StatusCode.ABORTED),
        (errors.FailedPrecondition("not approved"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Unavailable("identity down"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_each_domain_error_has_its_code_and_reason(
    error: errors.LayercakeError, code: grpc.StatusCode
) -> None:
    status = to_status(error)
    assert status.code == code
    assert status.details == str(error)
    (info,) = details_of(decode(status), error_details_pb2.ErrorInfo)
    assert info.reason == error.reason


@pytest.mark.parametrize(
    "error",
    [
        errors.LayercakeError("password=hunter2 in postgresql://db"),
        errors.ConfigError("LAYERCAKE_X is bad"),
    ],
)
def test_errors_without_a_mapping_are_internal_and_say_nothing(
    error: errors.LayercakeError,
) -> None:
    status = to_status(error)
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error"
    rich = decode(status)
    assert rich.message == "internal error"
    assert b"hunter2" not in rich.SerializeToString()
    assert b"LAYERCAKE_X" not in rich.SerializeToString()


def test_internal_status_has_no_traceback() -> None:
    status = internal_status()
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error"
    assert b"Traceback" not in decode(status).SerializeToString()


def test_echoed_input_is_clipped_so_the_status_fits_in_grpc_metadata() -> None:
    purpose = "p" * 20_000
    error = errors.InvalidArgument(
        [
            errors.FieldViolation(f"events[{i}].consent.{purpose}", f"unknown {purpose}")
            for i in range(1000)
        ]
    )
    status = to_status(error)
    wire = sum(len(k) + len(v) for k, v in status.trailing_metadata) + len(status.details)
    assert wire < 6000  # gRPC's metadata limit is 8 KB
    bad = details_of(decode(status), error_details_pb2.BadRequest)[0].field_violations
    assert bad[0].field.startswith("events[0].consent.ppp")
    assert "bytes cut]" in bad[0].field and "bytes cut]" in bad[0].description
    assert bad[-1].description.endswith("more violations, not shown")
    assert int(bad[-1].description.split()[1]) == 1000 - (len(bad) - 1)


def test_short_input_is_echoed_whole() -> None:
    status = to_status(errors.InvalidArgument.field("events[0].consent.x", "unknown purpose"))
    assert status.details == "events[0].consent.x: unknown purpose"
    (bad,) = details_of(decode(status), error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("events[0].consent.x", "unknown purpose")
    ]


def test_an_event_over_the_size_limit_is_invalid_argument_naming_the_limit() -> None:
    status = to_status(errors.EventTooLarge("event e1 (x.v1.Y)", 2_000_000, 900_000))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "900,000-byte limit" in status.details
    assert "LAYERCAKE_MAX_EVENT_BYTES" in status.details
    [info] = details_of(decode(status), error_details_pb2.ErrorInfo)
    assert info.reason == "EVENT_TOO_LARGE"
