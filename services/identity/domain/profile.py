"""The Profile aggregate: a person as one tenant knows them.

It checks its rules before recording an event and changes only by applying
events, so loading it is replaying its stream. It never saves itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.identity.domain.errors import UnknownConsentPurpose
from services.identity.domain.events import (
    ConsentChanged,
    IdentifiersLinked,
    ProfileCreated,
    ProfileEvent,
    TraitsSet,
    TraitValue,
)
from services.identity.domain.identifiers import Identifier, identifier_type
from services.kernel.aggregate import Aggregate
from services.kernel.vocabulary import CONSENT_PURPOSES


@dataclass
class Profile(Aggregate[ProfileEvent]):
    tenant_id: str = ""
    profile_id: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None
    identifiers: set[Identifier] = field(default_factory=set)
    traits: dict[str, TraitValue] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)
    consent_time: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def create(cls, tenant_id: str, profile_id: str, at: datetime) -> Profile:
        profile = cls()
        profile._record(ProfileCreated(tenant_id, profile_id, at))
        return profile

    @property
    def stream_id(self) -> str:
        return stream_id(self.profile_id)

    def link(self, identifiers: Iterable[Identifier]) -> list[Identifier]:
        """Links the new identifiers that fit the limits; returns those dropped."""
        added: list[Identifier] = []
        dropped: list[Identifier] = []
        for identifier in sorted(set(identifiers) - self.identifiers):
            linked_so_far = self.identifiers | set(added)
            same_type = sum(1 for i in linked_so_far if i.type == identifier.type)
            if same_type < identifier_type(identifier.type).limit:
                added.append(identifier)
            else:
                dropped.append(identifier)
        if added:
            self._record(IdentifiersLinked(tuple(added)))
        return dropped

    def set_traits(self, traits: Mapping[str, str], at: datetime, message_id: str = "") -> None:
        """Last write wins per trait by event time: an older event never overwrites."""
        changed = {
            name: TraitValue(value, at)
            for name, value in traits.items()
            if name not in self.traits
            or (self.traits[name].set_time <= at and self.traits[name].json_value != value)
        }
        if changed:
            self._record(TraitsSet(changed, message_id))

    def set_consent(self, consent: Mapping[str, bool], at: datetime) -> None:
        unknown = set(consent) - CONSENT_PURPOSES
        if unknown:
            raise UnknownConsentPurpose(f"unknown consent purposes {sorted(unknown)}")
        changed = {
            purpose: granted
            for purpose, granted in consent.items()
            if self.consent.get(purpose) != granted
            and (purpose not in self.consent_time or self.consent_time[purpose] <= at)
        }
        if changed:
            self._record(ConsentChanged(changed, at))

    def apply(self, event: ProfileEvent) -> None:
        match event:
            case ProfileCreated(tenant_id, profile_id, create_time):
                self.tenant_id, self.profile_id = tenant_id, profile_id
                self.create_time = self.update_time = create_time
            case IdentifiersLinked(identifiers):
                self.identifiers |= set(identifiers)
            case TraitsSet(traits):
                self.traits |= traits
                self.update_time = max(
                    [t.set_time for t in traits.values()]
                    + ([self.update_time] if self.update_time else [])
                )
            case ConsentChanged(consent, change_time):
                self.consent |= consent
                if change_time is not None:
                    self.consent_time |= dict.fromkeys(consent, change_time)


def stream_id(profile_id: str) -> str:
    return f"profile-{profile_id}"
