"""What each channel needs of a person before a send can reach them: the consent purpose
it sends under, and the trait holding the address it delivers to. One table per need, for
the guards, the renderer and the contact state alike. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHANNEL_PURPOSES: Mapping[str, str] = {
    "email": "email_marketing",
    "sms": "sms_marketing",
    "push": "push_marketing",
    "webhook": "personalization",
}
"""The consent purpose each channel needs; a channel missing here can never send."""

ADDRESS_TRAITS: Mapping[str, str] = {"email": "email", "sms": "phone", "push": "push_token"}
"""The trait holding where a channel delivers; a channel missing here needs none of the
person (a webhook delivers to its configured URL)."""


def address_of(channel: str, traits: Mapping[str, Any]) -> str:
    """The channel's address among `traits`; '' when the channel needs none, or it is unset
    or blank."""
    trait = ADDRESS_TRAITS.get(channel)
    value = traits.get(trait) if trait else None
    return value if isinstance(value, str) and value.strip() else ""


def held_addresses(traits: Mapping[str, Any]) -> frozenset[str]:
    """The address traits among `traits` that hold an address."""
    return frozenset(t for channel, t in ADDRESS_TRAITS.items() if address_of(channel, traits))
