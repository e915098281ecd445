"""The identity service's errors: one base, each a kernel error the edge can map."""

from __future__ import annotations

from services.kernel.errors import LayercakeError, Unprocessable


class IdentityError(LayercakeError):
    """Base of identity's own errors."""


class BadIdentifier(IdentityError, Unprocessable):
    """An identifier that cannot be normalised (unknown type, empty value)."""

    reason = "BAD_IDENTIFIER"


class UnknownConsentPurpose(IdentityError, Unprocessable):
    """Consent for a purpose the platform does not know; the gateway refuses these first."""

    reason = "UNKNOWN_CONSENT_PURPOSE"
