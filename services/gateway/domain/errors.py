"""The gateway's errors: one base, each also a kernel error so the edge can map it."""

from __future__ import annotations

from services.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    LayercakeError,
    NotFound,
    PermissionDenied,
)


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


class ScopeMissing(GatewayError, PermissionDenied):
    """The calling key, or its principal's roles, do not grant the scope an RPC needs."""

    reason = "SCOPE_MISSING"


class PrincipalAlreadyExists(GatewayError, AlreadyExists):
    reason = "PRINCIPAL_ALREADY_EXISTS"


class PrincipalNotFound(GatewayError, NotFound):
    reason = "PRINCIPAL_NOT_FOUND"


class RoleAlreadyGranted(GatewayError, FailedPrecondition):
    reason = "ROLE_ALREADY_GRANTED"


class RoleNotGranted(GatewayError, FailedPrecondition):
    reason = "ROLE_NOT_GRANTED"


class PrincipalHasNoRole(GatewayError, FailedPrecondition):
    """A key of a principal without roles could do nothing: grant a role first."""

    reason = "PRINCIPAL_HAS_NO_ROLE"
