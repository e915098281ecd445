"""A tenant's identifier rules: what each identifier type may do to the identity graph.

Resolution reads only these (never constants), so a tenant's published rules and
the defaults below behave the same way; the defaults are what a tenant without
rules of its own gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from services.identity.domain.errors import BadIdentifier
from services.kernel.vocabulary import PARTNER_TYPE

_WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:per\s+(hour|day|week))?\s*$")


@dataclass(frozen=True)
class TypeRule:
    """How one identifier type behaves: `limit` values per profile (within `window` if set)."""

    priority: int
    limit: int
    window: timedelta | None = None
    hashed: bool = False


def parse_limit(text: str) -> tuple[int, timedelta | None]:
    """`"5"` or `"5 per week"` (hour, day, week) -> (5, one week); ValueError otherwise."""
    match = _LIMIT.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"limit {text!r}: expected `<n>` or `<n> per hour|day|week`, n >= 1")
    return int(match.group(1)), _WINDOWS[match.group(2)] if match.group(2) else None


DEFAULT_TYPES: Mapping[str, TypeRule] = {
    "user_id": TypeRule(priority=100, limit=1),
    "crm_id": TypeRule(priority=90, limit=1),
    "email": TypeRule(priority=80, limit=5, hashed=True),
    "phone": TypeRule(priority=70, limit=3, hashed=True),
    "device_id": TypeRule(priority=50, limit=20),
    "anonymous_id": TypeRule(priority=30, limit=50),
    "cookie_id": TypeRule(priority=20, limit=100),
}
DEFAULT_PARTNER = TypeRule(priority=40, limit=5)
DEFAULT_BLOCKLIST = frozenset(
    {"null", "none", "nil", "0", "-1", "undefined", "nan", "unknown", "test@test.com"}
)
DEFAULT_MAX_IDENTIFIERS = 500


@dataclass(frozen=True)
class IdentifierRules:
    """One version of a tenant's rules (identity.v1 `IdentifierRules` as a controlled asset).

    `blocklist` holds normalised clear values that never match nor link; `traits` names
    the traits that are identifiers too (`email` -> type `email`); a profile never holds
    more than `max_identifiers` identifiers in all (a shared device or kiosk stops there).
    """

    types: Mapping[str, TypeRule] = field(default_factory=lambda: dict(DEFAULT_TYPES))
    partner: TypeRule = DEFAULT_PARTNER
    blocklist: frozenset[str] = DEFAULT_BLOCKLIST
    traits: Mapping[str, str] = field(default_factory=lambda: {"email": "email", "phone": "phone"})
    max_identifiers: int = DEFAULT_MAX_IDENTIFIERS
    default_region: str = "US"

    def rule(self, type_name: str) -> TypeRule:
        """The type's rule; BadIdentifier for a type the platform does not know."""
        if type_name in self.types:
            return self.types[type_name]
        if PARTNER_TYPE.match(type_name):
            return self.partner
        raise BadIdentifier(f"unknown identifier type {type_name!r}")

    def blocked(self, clear_value: str) -> bool:
        return clear_value.strip().lower() in self.blocklist


DEFAULT_RULES = IdentifierRules()
