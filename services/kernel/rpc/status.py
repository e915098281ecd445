"""Domain errors to `google.rpc.Status` with ErrorInfo, BadRequest and RetryInfo details."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.kernel import errors
from services.kernel.clipping import (
    DESCRIPTION_BYTES,
    FIELD_BYTES,
    MESSAGE_BYTES,
    VIOLATIONS_BYTES,
    clip,
)

DOMAIN = "layercake.dev"

CODES: dict[type[errors.LayercakeError], int] = {
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.EventTooLarge: code_pb2.INVALID_ARGUMENT,  # the request asked for too much
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.DeadlineExceeded: code_pb2.DEADLINE_EXCEEDED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
    errors.ConcurrencyError: code_pb2.ABORTED,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Unavailable: code_pb2.UNAVAILABLE,
}


def _pack(message: object) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)  # type: ignore[arg-type]
    return detail


def _bad_request(violations: Sequence[errors.FieldViolation]) -> error_details_pb2.BadRequest:
    """Each violation clipped, and as many as fit the budget; a last one counts the rest."""
    bad = error_details_pb2.BadRequest()
    used = 0
    for index, v in enumerate(violations):
        field, description = clip(v.field, FIELD_BYTES), clip(v.description, DESCRIPTION_BYTES)
        used += len(field.encode()) + len(description.encode())
        if used > VIOLATIONS_BYTES:
            left = len(violations) - index
            bad.field_violations.add(description=f"and {left} more violations, not shown")
            break
        bad.field_violations.add(field=field, description=description)
    return bad


def to_status(error: errors.LayercakeError) -> grpc.Status:
    """The gRPC status for a domain error; message text only, never a traceback.

    Echoed input is clipped (`services.kernel.clipping`) so the status fits in gRPC's
    metadata limit whatever the caller sent.
    """
    code = next((c for t, c in CODES.items() if isinstance(error, t)), code_pb2.INTERNAL)
    message = clip(str(error), MESSAGE_BYTES) if code != code_pb2.INTERNAL else "internal error"
    status = status_pb2.Status(code=code, message=message)
    status.details.append(_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)))
    if error.violations:
        status.details.append(_pack(_bad_request(error.violations)))
    if isinstance(error, errors.ResourceExhausted) and error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after * 1e9))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(status)


def internal_status() -> grpc.Status:
    return to_status(errors.LayercakeError("internal error"))


def from_rpc_error(error: grpc.aio.AioRpcError) -> errors.LayercakeError:
    """Maps a peer service's status back to a domain error, keeping field violations."""
    code = error.code()
    details = error.details() or code.name
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    reason: str | None = None  # the peer's ErrorInfo reason travels on (FOUR_EYES_REQUIRED, ...)
    violations: list[errors.FieldViolation] = []
    for d in status.details if status else []:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if d.Unpack(info) and info.reason:
            reason = info.reason
        elif d.Unpack(bad):
            violations += [
                errors.FieldViolation(v.field, v.description) for v in bad.field_violations
            ]
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidArgument(violations or [errors.FieldViolation("", details)])
    mapping: dict[grpc.StatusCode, type[errors.LayercakeError]] = {
        grpc.StatusCode.NOT_FOUND: errors.NotFound,
        grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
        grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
        grpc.StatusCode.ABORTED: errors.ConcurrencyError,
        grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
        grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
        grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    }
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        retry_after = 1.0
        for d in status.details if status else []:
            info = error_details_pb2.RetryInfo()
            if d.Unpack(info):
                retry_after = info.retry_delay.ToNanoseconds() / 1e9
        return errors.ResourceExhausted(details, retry_after)
    if code in mapping:
        kind = mapping[code]
        return kind(
            details, reason=reason if reason != kind.reason else None, violations=violations
        )
    return errors.Unavailable(f"peer answered {code.name}: {details}")
