"""The Profile aggregate: a person as one tenant knows them.

It checks its rules before recording an event and changes only by applying
events, so loading it is replaying its stream. It never saves itself. Which
identifiers it may take is resolution's decision (domain/resolution.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from services.identity.domain.errors import UnknownConsentPurpose
from services.identity.domain.events import (
    AudienceEntered,
    AudienceExited,
    ComputedTraitSet,
    ConsentChanged,
    EventReceived,
    IdentifierLink,
    IdentifiersDropped,
    IdentifiersLinked,
    ProfileAbsorbed,
    ProfileCreated,
    ProfileEvent,
    ProfileFlagged,
    ProfileForgotten,
    ProfileMergedInto,
    ProfileSplit,
    StateRederived,
    TraitsSet,
    TraitValue,
)
from services.identity.domain.identifiers import Identifier
from services.kernel.aggregate import Aggregate
from services.kernel.vocabulary import CONSENT_PURPOSES

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Profile(Aggregate[ProfileEvent]):
    tenant_id: str = ""
    profile_id: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None
    links: dict[Identifier, IdentifierLink] = field(default_factory=dict)
    traits: dict[str, TraitValue] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)
    consent_time: dict[str, datetime] = field(default_factory=dict)  # each decision's time
    consent_source: dict[str, str] = field(default_factory=dict)  # where it was collected
    merged_into: str | None = None  # set once merged: the id is an alias of that profile
    aliases: tuple[str, ...] = ()  # profiles merged into this one
    flagged: str | None = None
    computed: dict[str, TraitValue] = field(default_factory=dict)  # computed traits by name
    audiences: dict[str, int] = field(default_factory=dict)  # audience id -> version entered
    forgotten: bool = False  # erased: it takes nothing more, and holds nothing

    @classmethod
    def create(cls, tenant_id: str, profile_id: str, at: datetime) -> Profile:
        profile = cls()
        profile._record(ProfileCreated(tenant_id, profile_id, at))
        return profile

    @property
    def stream_id(self) -> str:
        return stream_id(self.profile_id)

    @property
    def identifiers(self) -> set[Identifier]:
        return set(self.links)

    def news(self) -> list[ProfileEvent]:
        """The pending events that change what a follower holds: an event taken counts only
        when it linked identifiers or set traits."""
        return [e for e in self.pending if not isinstance(e, EventReceived) or e.changes_profile]

    def link(self, identifiers: Iterable[Identifier], at: datetime, message_id: str = "") -> None:
        """Links identifiers resolution accepted; those already held are no change."""
        added = tuple(sorted(set(identifiers) - set(self.links)))
        if added:
            self._record(IdentifiersLinked(added, message_id, at))

    def drop(self, identifiers: Iterable[Identifier], reason: str, message_id: str) -> None:
        """Records identifiers of a message that resolution refused, with the reason."""
        refused = tuple(sorted(identifiers))
        if refused:
            self._record(IdentifiersDropped(refused, reason, message_id))

    def flag(self, reason: str, at: datetime, message_id: str) -> None:
        """Flags the profile for review once; it stays flagged until someone acts."""
        if self.flagged is None:
            self._record(ProfileFlagged(reason, message_id, at))

    def absorb(self, other: Profile, at: datetime, message_id: str) -> None:
        """Takes in `other` (which records `merged_into`): its links, then traits and consent
        that win by event time, so the result is the same whichever profile arrived first."""
        consent = {
            p: granted
            for p, granted in other.consent.items()
            if p not in self.consent
            or (p in other.consent_time and other.consent_time[p] > self._consent_at(p))
        }
        self._record(
            ProfileAbsorbed(
                other.profile_id,
                tuple(other.links[i] for i in sorted(other.links)),
                consent,
                {p: other.consent_time[p] for p in consent if p in other.consent_time},
                message_id,
                at,
                {p: other.consent_source[p] for p in consent if p in other.consent_source},
            )
        )
        self._set_traits(other.traits, message_id)

    def merge_into(self, survivor_id: str, at: datetime, message_id: str) -> None:
        """Leaves every audience (the survivor is evaluated in its place), then becomes an
        alias of the survivor."""
        for audience_id, version in sorted(self.audiences.items()):
            self._record(AudienceExited(audience_id, version, at))
        self._record(ProfileMergedInto(survivor_id, message_id, at))

    def set_computed(self, name: str, json_value: str | None, at: datetime) -> None:
        """Records a computed trait's new value; the same value again is no change."""
        current = self.computed.get(name)
        if (current.json_value if current else None) != json_value:
            self._record(ComputedTraitSet(name, json_value, at))

    def enter(self, audience_id: str, version: int, at: datetime) -> None:
        if audience_id not in self.audiences:
            self._record(AudienceEntered(audience_id, version, at))

    def exit(self, audience_id: str, version: int, at: datetime) -> None:
        if audience_id in self.audiences:
            self._record(AudienceExited(audience_id, version, at))

    def forget(
        self, aliases: Iterable[str], digests: Iterable[str], at: datetime, request_id: str
    ) -> None:
        """Erases the person (leaving every audience first); forgetting twice is no change."""
        if not self.forgotten:
            for audience_id, version in sorted(self.audiences.items()):
                self._record(AudienceExited(audience_id, version, at))
            self._record(
                ProfileForgotten(tuple(sorted(aliases)), tuple(sorted(digests)), at, request_id)
            )

    def set_traits(self, traits: Mapping[str, str], at: datetime, message_id: str = "") -> None:
        """Last write wins per trait by event time: an older event never overwrites."""
        self._set_traits({k: TraitValue(v, at) for k, v in traits.items()}, message_id)

    def _set_traits(self, traits: Mapping[str, TraitValue], message_id: str) -> None:
        changed = self._winning(traits)
        if changed:
            self._record(TraitsSet(changed, message_id))

    def _winning(self, traits: Mapping[str, TraitValue]) -> dict[str, TraitValue]:
        """Those of `traits` that change the profile: new, or set at the same time or later
        to another value."""
        return {
            name: value
            for name, value in traits.items()
            if name not in self.traits
            or (
                self.traits[name].set_time <= value.set_time
                and self.traits[name].json_value != value.json_value
            )
        }

    def set_consent(self, consent: Mapping[str, bool], at: datetime, source: str = "") -> None:
        """Each purpose keeps its latest explicit decision by event time, with where it was
        collected: an older one never overwrites, and the same decision made later moves its
        time on (so a merge compares the latest decisions, not the first ones)."""
        unknown = set(consent) - CONSENT_PURPOSES
        if unknown:
            raise UnknownConsentPurpose(f"unknown consent purposes {sorted(unknown)}")
        changed = {
            purpose: granted
            for purpose, granted in consent.items()
            if purpose not in self.consent_time
            or self.consent_time[purpose] < at
            or (self.consent_time[purpose] == at and self.consent.get(purpose) != granted)
        }
        if changed:
            self._record(ConsentChanged(changed, at, source))

    def take(self, event: EventReceived) -> None:
        """Folds in an ingested event resolution gave this profile and keeps it as it came,
        with what it did recorded on it (one stored event): it links those of its
        identifiers the profile does not hold yet (resolution accepted them all) and sets
        its traits that win by event time; its consent too, by event time."""
        self.set_consent(event.consent, event.event_time, event.consent_source)
        at = event.event_time
        won = self._winning({k: TraitValue(v, at) for k, v in event.traits.items()})
        linked = tuple(sorted(set(event.identifiers) - self.links.keys()))
        self._record(replace(event, linked=linked, traits_set=tuple(sorted(won))))

    def receive(self, event: EventReceived) -> None:
        """Keeps an ingested event as it came (the truth history and unmerge derive from),
        without what it did to the profile that first took it (an unmerge's new profile
        takes its links and traits apart)."""
        self._record(replace(event, linked=(), traits_set=()))

    def split(
        self,
        identifiers: Iterable[Identifier],
        new_profile_id: str,
        request_id: str,
        at: datetime,
        reason: str = "",
    ) -> None:
        """Moves identifiers off this profile (an admin's unmerge; see domain/unmerge.py)."""
        self._record(
            ProfileSplit(tuple(sorted(identifiers)), new_profile_id, request_id, at, reason)
        )

    def rederive(self, state: StateRederived) -> None:
        """Replaces traits and consent with those derived from the events that belong here
        (recorded even when nothing differs: followers take the whole state from it)."""
        self._record(state)

    def _put_traits(self, traits: Mapping[str, TraitValue]) -> None:
        if not traits:
            return
        self.traits |= traits
        self.update_time = max(
            [t.set_time for t in traits.values()] + ([self.update_time] if self.update_time else [])
        )

    def _consent_at(self, purpose: str) -> datetime:
        return self.consent_time.get(purpose, _NEVER)

    def apply(self, event: ProfileEvent) -> None:
        match event:  # the most frequent first: every ingested event records one
            case EventReceived(message_id=message_id, event_time=at, linked=linked):
                if linked:
                    self.links |= {i: IdentifierLink(i, message_id, at) for i in linked}
                if event.traits_set:
                    self._put_traits(event.won_traits)
            case ProfileCreated(tenant_id, profile_id, create_time):
                self.tenant_id, self.profile_id = tenant_id, profile_id
                self.create_time = self.update_time = create_time
            case IdentifiersLinked(identifiers, message_id, link_time):
                self.links |= {i: IdentifierLink(i, message_id, link_time) for i in identifiers}
            case TraitsSet(traits):
                self._put_traits(traits)
            case ConsentChanged(consent, change_time, source):
                self.consent |= consent
                if change_time is not None:
                    self.consent_time |= dict.fromkeys(consent, change_time)
                self.consent_source |= dict.fromkeys(consent, source)
            case ProfileAbsorbed(absorbed_id, links, consent, consent_time, _, _, consent_source):
                self.links |= {link.identifier: link for link in links}
                self.consent |= consent
                self.consent_time |= consent_time
                self.consent_source |= {p: consent_source.get(p, "") for p in consent}
                self.aliases = (*self.aliases, absorbed_id)
            case ProfileSplit(identifiers):
                self.links = {i: link for i, link in self.links.items() if i not in identifiers}
            case StateRederived(traits, consent, consent_time, consent_source):
                self.traits = dict(traits)
                self.consent = dict(consent)
                self.consent_time = dict(consent_time)
                self.consent_source = dict(consent_source)
            case ProfileMergedInto(survivor_id):
                self.merged_into = survivor_id
            case ProfileFlagged(reason):
                self.flagged = reason
            case ComputedTraitSet(name, json_value, change_time):
                if json_value is None:
                    self.computed.pop(name, None)
                else:
                    self.computed[name] = TraitValue(json_value, change_time)
            case AudienceEntered(audience_id, audience_version):
                self.audiences[audience_id] = audience_version
            case AudienceExited(audience_id):
                self.audiences.pop(audience_id, None)
            case ProfileForgotten():
                self.forgotten = True
                self.links, self.traits, self.consent, self.consent_time = {}, {}, {}, {}
                self.computed, self.audiences = {}, {}
            case IdentifiersDropped():
                pass


def stream_id(profile_id: str) -> str:
    return f"profile-{profile_id}"
