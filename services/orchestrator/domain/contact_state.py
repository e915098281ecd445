"""What reaching a person depends on, as identity last described them.

The orchestrator keeps its own copy (a projection of identity's `ProfileUpdated`)
so that checking consent or quiet hours before a send never calls identity.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ProfileUpdated:
    """Identity's view of a profile, reduced to what the orchestrator uses.

    `time_zone` is the profile's `timezone` trait as sent, not yet checked.
    """

    tenant_id: str
    profile_id: str
    profile_version: int
    consent: Mapping[str, bool] = field(default_factory=dict)
    time_zone: str = ""


@dataclass(frozen=True)
class ContactState:
    """Consent per purpose and the IANA time zone ('' when unknown) at a profile version."""

    tenant_id: str
    profile_id: str
    profile_version: int
    consent: Mapping[str, bool]
    time_zone: str
    update_time: datetime


@functools.cache
def _iana_zones() -> frozenset[str]:
    # `localtime` is the server's zone and `Factory` a placeholder: neither is a person's.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def known_time_zone(name: str) -> str:
    """`name` if it is an IANA zone, else ''; quiet hours must never run on a guessed zone."""
    return name if name in _iana_zones() else ""


def contact_state(update: ProfileUpdated, now: datetime) -> ContactState:
    """The contact state a profile update leads to, stamped with the time it was projected."""
    return ContactState(
        tenant_id=update.tenant_id,
        profile_id=update.profile_id,
        profile_version=update.profile_version,
        consent=dict(update.consent),
        time_zone=known_time_zone(update.time_zone),
        update_time=now,
    )
