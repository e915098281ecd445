"""The one exception family of layercake; the gRPC edge maps each to a status.

Domain and service code raise these; `services.kernel.rpc.errors` turns them into
`google.rpc.Status` with details, so no caller ever sees a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.kernel.tenants import is_tenant_id


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (`events[2].message_id`) and why."""

    field: str
    description: str


class LayercakeError(Exception):
    """Base of every error layercake raises on purpose.

    `reason` (the ErrorInfo reason) defaults to the class's; an instance may carry its own
    (`FailedPrecondition("...", reason="FOUR_EYES_REQUIRED")`) and the fields at fault.
    """

    reason = "INTERNAL"
    violations: tuple[FieldViolation, ...] = ()

    def __init__(
        self,
        message: str = "",
        *,
        reason: str | None = None,
        violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if violations:
            self.violations = tuple(violations)


class InvalidArgument(LayercakeError):
    """The request is malformed; `violations` name each bad field."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        listed = tuple(violations)
        super().__init__(
            "; ".join(f"{v.field}: {v.description}" if v.field else v.description for v in listed),
            violations=listed,
        )

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(LayercakeError):
    reason = "NOT_FOUND"


class Unauthenticated(LayercakeError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(LayercakeError):
    reason = "PERMISSION_DENIED"


class AlreadyExists(LayercakeError):
    reason = "ALREADY_EXISTS"


class DeadlineExceeded(LayercakeError):
    """A peer did not answer within the call's deadline."""

    reason = "DEADLINE_EXCEEDED"


class ResourceExhausted(LayercakeError):
    """Over a quota; callers should retry after `retry_after` seconds, or not at all when it
    is None (the call alone exceeds the quota: no wait makes it fit)."""

    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConcurrencyError(LayercakeError):
    """A stale writer lost the optimistic lock on `(stream_id, version)`; reload and retry."""

    reason = "CONCURRENCY_CONFLICT"


class DuplicateEvent(AlreadyExists):
    """An event id already recorded, other than as an exact repeat of the same append:
    no retry can succeed, so it is not a ConcurrencyError."""

    reason = "DUPLICATE_EVENT"


class FailedPrecondition(LayercakeError):
    reason = "FAILED_PRECONDITION"


class Unavailable(LayercakeError):
    """A dependency (another service, NATS) did not answer in time."""

    reason = "UNAVAILABLE"


class NotReady(Unavailable):
    """A dependency has not caught up with a message yet (identity has not resolved its
    person): not the message's fault, so a consumer's prepare step raising it has the
    message prepared again shortly, for as long as it takes, never dead-lettered."""


class Unprocessable(LayercakeError):
    """A message no retry can fix (undecodable, invalid); consumers dead-letter it at once."""

    reason = "UNPROCESSABLE"


class UnknownEventType(LayercakeError):
    """A stored event this code cannot read: a type it does not know, or a schema version
    newer than it writes (an older release reading a newer one's stream)."""

    reason = "UNKNOWN_EVENT_TYPE"

    def __init__(self, type_name: str, stream_id: str, schema_version: int = 1) -> None:
        super().__init__(
            f"stream {stream_id!r} holds an event of unknown type {type_name!r}"
            f" (schema version {schema_version})"
        )
        self.type_name = type_name
        self.stream_id = stream_id


class EventTooLarge(Unprocessable):
    """An event or integration event over the size limit (`LAYERCAKE_MAX_EVENT_BYTES`,
    below NATS's max payload): a consumer dead-letters its cause, an RPC answers
    INVALID_ARGUMENT; nothing over the limit is ever recorded."""

    reason = "EVENT_TOO_LARGE"

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{what} is {size:,} bytes, over the {limit:,}-byte limit on events"
            " (LAYERCAKE_MAX_EVENT_BYTES)"
        )
        self.size = size
        self.limit = limit


class ConfigError(LayercakeError):
    """Bad configuration at start; the message names the environment variable."""

    reason = "CONFIG"


class Violations:
    """Collects field violations so a request reports every bad field at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def require(self, value: object, field: str) -> None:
        if not value:
            self.add(field, "is required")

    def require_tenant(self, value: str, field: str = "tenant_id") -> None:
        """Required and a valid tenant id, since it becomes a NATS subject token."""
        if not value:
            self.add(field, "is required")
        elif not is_tenant_id(value):
            self.add(field, "must be 2-40 lower-case letters, digits or dashes, letter first")

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
