"""Audience membership as identity reports it: who is in each audience, for scheduled
entries that name one (`entry.schedule.audience`).

Each AudienceEntered/AudienceExited carries the profile's version; a membership keeps the
version that decided it, so only a newer event changes it (deliveries may come late or
twice). A merge gives the survivor the memberships it lacks, stamped below the merge's
version as contact states are (`taken_from_merged`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.kernel.profile_changes import ProfileChange, ProfilesMerge


@dataclass(frozen=True)
class Membership:
    """Whether a profile is in an audience, as of the profile version that said so."""

    tenant_id: str
    audience_id: str
    profile_id: str
    member: bool
    version: int


def memberships_after(held: Mapping[str, Membership], change: ProfileChange) -> list[Membership]:
    """The memberships `change` sets (by audience id, `held` being the profile's): only
    those newer than the ones held."""
    return [
        Membership(change.tenant_id, audience, change.profile_id, member, change.version)
        for audience, member in change.audiences.items()
        if audience not in held or held[audience].version < change.version
    ]


def memberships_taken(
    survivor: Mapping[str, Membership], merged: Iterable[Membership], merge: ProfilesMerge
) -> list[Membership]:
    """The merged-away profile's memberships the survivor lacks, as the survivor's, stamped
    below the merge's version so identity's word about the survivor after it wins."""
    stamp = max(merge.version - 1, 1)
    return [
        Membership(m.tenant_id, m.audience_id, merge.survivor_profile_id, m.member, stamp)
        for m in merged
        if m.audience_id not in survivor
    ]
