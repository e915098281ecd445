"""Why the lifecycle refused: each refusal is a kernel error carrying one of these reasons.

Who-based refusals are PERMISSION_DENIED, state-based ones FAILED_PRECONDITION; the
ErrorInfo reason names the rule, so a client can tell four-eyes from a missing role.
"""

from __future__ import annotations

from enum import StrEnum

from services.kernel.errors import FailedPrecondition, FieldViolation, PermissionDenied


class Refusal(StrEnum):
    ROLE_REQUIRED = "ROLE_REQUIRED"
    WRONG_TENANT = "WRONG_TENANT"
    SYSTEM_PRINCIPAL_CANNOT_APPROVE = "SYSTEM_PRINCIPAL_CANNOT_APPROVE"
    FOUR_EYES_REQUIRED = "FOUR_EYES_REQUIRED"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    PUBLISHED_VERSION_IMMUTABLE = "PUBLISHED_VERSION_IMMUTABLE"
    REQUIRED_METADATA_MISSING = "REQUIRED_METADATA_MISSING"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    ROLLBACK_SOURCE_NOT_PUBLISHED = "ROLLBACK_SOURCE_NOT_PUBLISHED"


def denied(refusal: Refusal, message: str) -> PermissionDenied:
    return PermissionDenied(message, reason=refusal.value)


def refused(
    refusal: Refusal, message: str, violations: tuple[FieldViolation, ...] = ()
) -> FailedPrecondition:
    return FailedPrecondition(message, reason=refusal.value, violations=violations)
