"""Which traits are personal data: they leave the identity service only sealed.

Names and contact details identify a person on their own; traits such as a plan,
a store or a visit count do not, and other services may project them in clear.
"""

from __future__ import annotations

from typing import Protocol

PERSONAL_TRAITS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "middle_name",
        "nickname",
        "email",
        "phone",
        "mobile",
        "address",
        "street",
        "address_line1",
        "address_line2",
        "postal_code",
        "zip",
        "birthday",
        "birth_date",
        "date_of_birth",
        "ip",
        "national_id",
        "passport",
        "tax_id",
    }
)


def is_personal(trait: str) -> bool:
    return trait.lower() in PERSONAL_TRAITS


class Sealer(Protocol):
    """Seals and opens personal data with one profile's key (see store.vault)."""

    def seal(self, plaintext: str) -> bytes: ...

    def open(self, sealed: bytes) -> str: ...
