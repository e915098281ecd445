"""Identity's profile changes, as every service that keeps its own copy of profiles reads them.

`ProfileUpdated` carries what changed, not the whole profile. A follower keeps, per
profile, the version each field was last set at; a change wins a field only when it
is newer, so applying changes is idempotent and safe in any order (a redelivery, a
retry after a failure, several replicas).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

TRAIT = "trait:"
CONSENT = "consent:"
COMPUTED = "computed:"
AUDIENCE = "audience:"
IDENTIFIERS = "identifier_count"


@dataclass(frozen=True)
class ProfileChange:
    """What one change did to a profile, at the profile's version after it.

    `traits` holds changed traits that are not personal data, as decoded JSON (None for
    a value that was not valid JSON); `personal_traits` names the personal traits the change
    set (their values stay sealed with identity); `identifier_count` is the profile's count after
    identifiers were linked, None when none were; `computed` holds computed traits that
    changed (None: the window holds no value) and `audiences` each audience entered (True)
    or left (False).
    """

    tenant_id: str
    profile_id: str
    version: int
    traits: Mapping[str, object] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    identifier_count: int | None = None
    computed: Mapping[str, object] = field(default_factory=dict)
    audiences: Mapping[str, bool] = field(default_factory=dict)
    personal_traits: frozenset[str] = frozenset()

    @property
    def trait_names(self) -> frozenset[str]:
        """Every trait the change set, personal or not: names only, never values."""
        return frozenset(self.traits) | self.personal_traits

    def fields(self) -> list[str]:
        """The names under which the change's parts are versioned."""
        names = [TRAIT + t for t in self.traits] + [CONSENT + p for p in self.consent]
        names += [COMPUTED + c for c in self.computed] + [AUDIENCE + a for a in self.audiences]
        return names + ([IDENTIFIERS] if self.identifier_count is not None else [])

    def keeping(self, traits: Collection[str]) -> ProfileChange:
        """The change reduced to the traits a follower keeps (consent and counts stay)."""
        return replace(self, traits={k: v for k, v in self.traits.items() if k in traits})

    def newer_than(self, versions: Mapping[str, int]) -> ProfileChange:
        """Only the parts newer than the versions stored: what applying it still changes."""

        def wins(name: str) -> bool:
            return versions.get(name, 0) < self.version

        count = self.identifier_count
        return replace(
            self,
            traits={k: v for k, v in self.traits.items() if wins(TRAIT + k)},
            consent={k: v for k, v in self.consent.items() if wins(CONSENT + k)},
            identifier_count=count if count is not None and wins(IDENTIFIERS) else None,
            computed={k: v for k, v in self.computed.items() if wins(COMPUTED + k)},
            audiences={k: v for k, v in self.audiences.items() if wins(AUDIENCE + k)},
        )

    def stamped(self, versions: Mapping[str, int]) -> dict[str, int]:
        """The field versions once this change (reduced by `newer_than`) is applied."""
        return dict(versions) | dict.fromkeys(self.fields(), self.version)

    @property
    def empty(self) -> bool:
        return not self.fields()


@dataclass(frozen=True)
class ProfilesMerge:
    """Identity merged `merged_profile_ids` into the survivor, whose version is then `version`."""

    tenant_id: str
    survivor_profile_id: str
    merged_profile_ids: tuple[str, ...]
    version: int


@dataclass(frozen=True)
class ProfileForget:
    """Identity forgot the profile and the profiles merged into it: a follower deletes its
    copies of all of them (GDPR erasure)."""

    tenant_id: str
    profile_id: str
    alias_profile_ids: tuple[str, ...]

    @property
    def profile_ids(self) -> tuple[str, ...]:
        return (self.profile_id, *self.alias_profile_ids)


def taken_from_merged(
    survivor: Mapping[str, int], merged: Mapping[str, int], merge_version: int
) -> dict[str, int]:
    """The fields a survivor's copy takes from a merged-away copy, at the versions they get.

    Only fields the survivor lacks: where both hold one, identity's own ProfileUpdated at
    `merge_version` carries the merged value if it won, and nothing if the survivor's
    did, and the two profiles' versions count different streams, so they never decide.
    Taken fields are stamped below `merge_version`, so that update and every later one
    win over them; a second fold takes nothing (idempotent).
    """
    stamp = max(merge_version - 1, 1)
    return {name: stamp for name in merged if name not in survivor}


def trait_count(versions: Mapping[str, int]) -> int:
    """How many traits a follower has seen set (personal ones aside)."""
    return sum(1 for name in versions if name.startswith(TRAIT))
