"""What reaching a person depends on, as identity last described them.

The orchestrator keeps its own copy (a projection of identity's `ProfileUpdated`
changes) so that checking consent, an address or quiet hours before a send never calls
identity: consent per purpose, the time zone, and which address traits identity holds
(by name: an email or a phone arrives sealed, and its value stays with identity).
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.kernel.profile_changes import (
    CONSENT,
    TRAIT,
    ProfileChange,
    ProfilesMerge,
    taken_from_merged,
)
from services.orchestrator.domain.channels import ADDRESS_TRAITS

TIME_ZONE_TRAIT = "timezone"  # where the person is; quiet hours depend on it
ADDRESSES = frozenset(ADDRESS_TRAITS.values())


@dataclass(frozen=True)
class ContactState:
    """Consent per purpose and the IANA time zone ('' when unknown) at a profile version;
    `field_versions` says which profile version set each part (see ProfileChange), an
    address trait's entry (`trait:email`) saying identity holds that address."""

    tenant_id: str
    profile_id: str
    profile_version: int
    consent: Mapping[str, bool]
    time_zone: str
    update_time: datetime
    field_versions: Mapping[str, int] = field(default_factory=dict)

    @property
    def addresses(self) -> frozenset[str]:
        """The address traits identity set for the person (a blank one too: the renderer,
        which unseals it, finds that out)."""
        return frozenset(t for t in ADDRESSES if TRAIT + t in self.field_versions)


@functools.cache
def _iana_zones() -> frozenset[str]:
    # `localtime` is the server's zone and `Factory` a placeholder: neither is a person's.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def known_time_zone(name: str) -> str:
    """`name` if it is an IANA zone, else ''; quiet hours must never run on a guessed zone."""
    return name if name in _iana_zones() else ""


def contact_state_after(
    state: ContactState | None, change: ProfileChange, now: datetime
) -> ContactState | None:
    """The contact state once identity's `change` is applied, stamped with `now`;
    None when it changes nothing (a repeat, or only parts older than those held)."""
    versions = state.field_versions if state is not None else {}
    newer = change.keeping({TIME_ZONE_TRAIT, *ADDRESSES}).newer_than(versions)
    sealed = [
        TRAIT + t
        for t in change.personal_traits & ADDRESSES
        if versions.get(TRAIT + t, 0) < change.version
    ]
    held = state.profile_version if state is not None else 0
    if newer.empty and not sealed and change.version <= held:
        return None
    time_zone = state.time_zone if state is not None else ""
    if TIME_ZONE_TRAIT in newer.traits:
        value = newer.traits[TIME_ZONE_TRAIT]
        time_zone = known_time_zone(value if isinstance(value, str) else "")
    return ContactState(
        tenant_id=change.tenant_id,
        profile_id=change.profile_id,
        profile_version=max(held, change.version),
        consent={**(state.consent if state is not None else {}), **newer.consent},
        time_zone=time_zone,
        update_time=now,
        field_versions=newer.stamped(versions) | dict.fromkeys(sealed, change.version),
    )


def contact_state_folded(
    survivor: ContactState | None, merged: ContactState, merge: ProfilesMerge, now: datetime
) -> ContactState | None:
    """The survivor's state once it takes the merged-away profile's parts it lacks (see
    `taken_from_merged`); None when it takes nothing."""
    versions = survivor.field_versions if survivor is not None else {}
    taken = taken_from_merged(versions, merged.field_versions, merge.version)
    if survivor is not None and not taken:
        return None
    consent = {p: g for p, g in merged.consent.items() if CONSENT + p in taken}
    time_zone = survivor.time_zone if survivor is not None else ""
    if TRAIT + TIME_ZONE_TRAIT in taken:
        time_zone = merged.time_zone
    held = survivor.profile_version if survivor is not None else 0
    return ContactState(
        tenant_id=merge.tenant_id,
        profile_id=merge.survivor_profile_id,
        profile_version=max(held, *taken.values(), 1),
        consent={**(survivor.consent if survivor is not None else {}), **consent},
        time_zone=time_zone,
        update_time=now,
        field_versions=dict(versions) | taken,
    )


def consent_withdrawn(
    state: ContactState | None, tenant_id: str, profile_id: str, purpose: str, now: datetime
) -> ContactState | None:
    """The state once the person withdrew `purpose` through a channel (unsubscribed): not
    granted, stamped at the newest profile version held, so only a later change from
    identity grants it again. None when it is withdrawn already."""
    if state is not None and state.consent.get(purpose) is False:
        return None
    versions = dict(state.field_versions) if state is not None else {}
    held = state.profile_version if state is not None else 0
    versions[CONSENT + purpose] = max(held, versions.get(CONSENT + purpose, 0))
    return ContactState(
        tenant_id=tenant_id,
        profile_id=profile_id,
        profile_version=held,
        consent={**(state.consent if state is not None else {}), purpose: False},
        time_zone=state.time_zone if state is not None else "",
        update_time=now,
        field_versions=versions,
    )
