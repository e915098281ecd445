"""The identity service's errors: one base, each a kernel error the edge can map."""

from __future__ import annotations

from services.kernel.errors import FailedPrecondition, LayercakeError


class IdentityError(LayercakeError):
    """Base of identity's own errors."""


class BadIdentifier(IdentityError, FailedPrecondition):
    """An identifier that cannot be normalised (unknown type, empty value)."""

    reason = "BAD_IDENTIFIER"
