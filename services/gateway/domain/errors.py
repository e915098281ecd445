"""The gateway's errors: one base, each also a kernel error so the edge can map it."""

from __future__ import annotations

from services.kernel.errors import AlreadyExists, FailedPrecondition, LayercakeError, NotFound


class GatewayError(LayercakeError):
    """Base of the gateway's own errors."""


class TenantAlreadyExists(GatewayError, AlreadyExists):
    reason = "TENANT_ALREADY_EXISTS"


class TenantNotFound(GatewayError, NotFound):
    reason = "TENANT_NOT_FOUND"


class ApiKeyNotFound(GatewayError, NotFound):
    reason = "API_KEY_NOT_FOUND"


class ApiKeyAlreadyIssued(GatewayError, FailedPrecondition):
    reason = "API_KEY_ALREADY_ISSUED"


class ApiKeyAlreadyRevoked(GatewayError, FailedPrecondition):
    reason = "API_KEY_ALREADY_REVOKED"
