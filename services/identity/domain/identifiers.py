"""Identifier types, their normalisation, and hashing of the ones that are PII.

Matching identifiers (email, phone) are normalised then SHA-256 hashed, so the
identity graph never holds them in clear; a lookup hashes the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from services.identity.domain.errors import BadIdentifier
from services.kernel.vocabulary import PARTNER_TYPE


@dataclass(frozen=True)
class IdentifierType:
    """How a tenant treats one identifier type (limit: values one profile may hold)."""

    name: str
    priority: int
    limit: int
    hashed: bool = False


# Identity's rules for each of the platform's types (kernel.vocabulary.IDENTIFIER_TYPES).
DEFAULT_TYPES: dict[str, IdentifierType] = {
    t.name: t
    for t in (
        IdentifierType("user_id", priority=100, limit=1),
        IdentifierType("crm_id", priority=90, limit=1),
        IdentifierType("email", priority=80, limit=5, hashed=True),
        IdentifierType("phone", priority=70, limit=3, hashed=True),
        IdentifierType("device_id", priority=50, limit=20),
        IdentifierType("anonymous_id", priority=30, limit=50),
        IdentifierType("cookie_id", priority=20, limit=100),
    )
}
PARTNER = IdentifierType("partner", priority=40, limit=5)


@dataclass(frozen=True, order=True)
class Identifier:
    """A normalised identifier; `value` is a SHA-256 hex digest when `hashed`."""

    type: str
    value: str
    hashed: bool = False

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"


def identifier_type(name: str) -> IdentifierType:
    if name in DEFAULT_TYPES:
        return DEFAULT_TYPES[name]
    if PARTNER_TYPE.match(name):
        return IdentifierType(name, PARTNER.priority, PARTNER.limit)
    raise BadIdentifier(f"unknown identifier type {name!r}")


def _normalise_value(type_name: str, raw: str) -> str:
    value = raw.strip()
    if type_name == "email":
        value = value.lower()
    elif type_name == "phone":
        digits = re.sub(r"[^\d+]", "", value)
        value = "+" + digits.lstrip("+") if digits else ""
    return value


def normalise(type_name: str, raw: str) -> Identifier:
    """The identifier as stored and matched: trimmed, lower-cased emails, hashed PII."""
    kind = identifier_type(type_name)
    value = _normalise_value(type_name, raw)
    if not value:
        raise BadIdentifier(f"empty {type_name} identifier")
    if kind.hashed:
        return Identifier(type_name, hashlib.sha256(value.encode()).hexdigest(), hashed=True)
    return Identifier(type_name, value)


def parse_ref(ref: str) -> Identifier | str:
    """`<type>:<value>` becomes an Identifier; anything without a known type is a profile id."""
    type_name, sep, value = (
        ref.rpartition(":") if ref.startswith("partner:") else ref.partition(":")
    )
    if not sep:
        return ref
    try:
        return normalise(type_name, value)
    except BadIdentifier:
        if type_name in DEFAULT_TYPES or type_name.startswith("partner:"):
            raise
        return ref
