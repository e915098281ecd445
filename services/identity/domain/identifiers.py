"""Identifiers: normalisation, the junk blocklist, and keyed hashing of the ones that are PII.

Matching identifiers (email, phone) are normalised, then hashed with the tenant's
own key (HMAC-SHA-256, see store/tenant_keys.py), so the identity graph never holds
them in clear and a leaked table cannot be reversed with a dictionary of emails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers

from services.identity.domain.errors import BadIdentifier
from services.identity.domain.rules import IdentifierRules

# The tenant's keyed hash of a normalised clear value (hex digest).
Hasher = Callable[[str], str]


@dataclass(frozen=True, order=True)
class Identifier:
    """A normalised identifier; `value` is the tenant's keyed digest when `hashed`."""

    type: str
    value: str
    hashed: bool = False

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"


def clear_value(type_name: str, raw: str, region: str = "US") -> str:
    """The value as matched before hashing: emails trimmed and lower-cased, phones E.164."""
    value = raw.strip()
    if type_name == "email":
        return value.lower()
    if type_name == "phone" and value:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as e:
            raise BadIdentifier(f"phone {value[:4]}…: not a phone number") from e
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def normalise(
    type_name: str, raw: str, rules: IdentifierRules, hasher: Hasher
) -> Identifier | None:
    """The identifier as stored and matched; None for a blocklisted junk value (never matches).

    BadIdentifier for an unknown type or an empty value.
    """
    rule = rules.rule(type_name)
    if rules.blocked(raw):
        return None
    value = clear_value(type_name, raw, rules.default_region)
    if not value:
        raise BadIdentifier(f"empty {type_name} identifier")
    if rules.blocked(value):
        return None
    if rule.hashed:
        return Identifier(type_name, hasher(value), hashed=True)
    return Identifier(type_name, value)


def split_ref(ref: str) -> tuple[str, str] | None:
    """`<type>:<value>` -> (type, raw value); None when `ref` names no identifier type."""
    type_name, sep, value = (
        ref.rpartition(":") if ref.startswith("partner:") else ref.partition(":")
    )
    return (type_name, value) if sep else None
