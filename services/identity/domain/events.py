"""What happens to a profile, in the past tense; immutable, with aware UTC times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from services.identity.domain.identifiers import Identifier


@dataclass(frozen=True)
class TraitValue:
    """A trait's JSON-encoded value and the event time it was set at."""

    json_value: str
    set_time: datetime


@dataclass(frozen=True)
class IdentifierLink:
    """One identifier on a profile and its provenance: the message that brought it, when."""

    identifier: Identifier
    message_id: str = ""
    link_time: datetime | None = None  # None: linked before provenance was recorded


@dataclass(frozen=True)
class ProfileCreated:
    tenant_id: str
    profile_id: str
    create_time: datetime


@dataclass(frozen=True)
class IdentifiersLinked:
    identifiers: tuple[Identifier, ...]
    message_id: str = ""
    link_time: datetime | None = None


@dataclass(frozen=True)
class TraitsSet:
    traits: dict[str, TraitValue] = field(hash=False)
    message_id: str = ""


@dataclass(frozen=True)
class ConsentChanged:
    consent: dict[str, bool] = field(hash=False)
    change_time: datetime | None = None
    source: str = ""  # where the decisions were collected (the event's channel), "" unknown


@dataclass(frozen=True)
class ProfileAbsorbed:
    """The survivor took in a merged profile: its identifier links and the consent that wins.

    The merged profile's traits that win by event time follow as a `TraitsSet` (sealed).
    """

    absorbed_profile_id: str
    links: tuple[IdentifierLink, ...]
    consent: dict[str, bool] = field(hash=False)
    consent_time: dict[str, datetime] = field(hash=False)
    message_id: str = ""
    merge_time: datetime | None = None
    consent_source: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ProfileMergedInto:
    """This profile was merged: from now on its id is an alias of the survivor."""

    survivor_profile_id: str
    message_id: str = ""
    merge_time: datetime | None = None


@dataclass(frozen=True)
class IdentifiersDropped:
    """Identifiers of a message not linked, and why (`limit:<type>`, `max_identifiers`)."""

    identifiers: tuple[Identifier, ...]
    reason: str
    message_id: str = ""


@dataclass(frozen=True)
class ProfileFlagged:
    """The profile reached the tenant's total of identifiers: it stops absorbing, review it."""

    reason: str
    message_id: str = ""
    flag_time: datetime | None = None


@dataclass(frozen=True)
class ComputedTraitSet:
    """A computed trait's value changed (None: its window holds none)."""

    name: str
    json_value: str | None
    change_time: datetime


@dataclass(frozen=True)
class AudienceEntered:
    audience_id: str
    audience_version: int
    enter_time: datetime


@dataclass(frozen=True)
class AudienceExited:
    audience_id: str
    audience_version: int
    exit_time: datetime


@dataclass(frozen=True)
class ProfileForgotten:
    """The person was forgotten (with the profiles merged into it): nothing of them is kept,
    and identifiers whose keyed digests are listed are suppressed from now on."""

    alias_profile_ids: tuple[str, ...]
    suppressed_digests: tuple[str, ...]
    forget_time: datetime | None = None
    request_id: str = ""


@dataclass(frozen=True)
class EventReceived:
    """An ingested event the profile took, as it came: the truth its timeline, trait history
    and (after an unmerge) its traits and consent are derived from. It also records what it
    did to the profile that took it (`linked`, `traits_set`), so taking an event is one
    stored event, not one per consequence; those stored before say so in an
    `IdentifiersLinked` and a `TraitsSet` before them (and leave these empty)."""

    message_id: str
    event_time: datetime
    identifiers: tuple[Identifier, ...]  # those resolution kept
    traits: dict[str, str] = field(default_factory=dict, hash=False)  # name -> JSON value
    consent: dict[str, bool] = field(default_factory=dict, hash=False)
    type: str = ""  # track / identify
    event: str = ""  # the track event's name
    consent_source: str = ""  # where its consent decisions were collected (the channel)
    # a track event's properties and context (JSON values): what computed traits read
    properties: dict[str, Any] = field(default_factory=dict, hash=False)
    context: dict[str, Any] = field(default_factory=dict, hash=False)
    # the identifiers it linked (provenance: this event, at its event time)
    linked: tuple[Identifier, ...] = ()
    traits_set: tuple[str, ...] = ()  # its traits that won (last write wins by event time)

    @property
    def changes_profile(self) -> bool:
        """Whether taking it changed what the profile holds beyond its version."""
        return bool(self.linked or self.traits_set)

    @cached_property
    def won_traits(self) -> dict[str, TraitValue]:
        """Its traits that won, as the profile holds them (none once the key is gone); read
        by the profile, its projection and its integration event, so made once."""
        return {
            k: TraitValue(self.traits[k], self.event_time)
            for k in self.traits_set
            if k in self.traits
        }


@dataclass(frozen=True)
class ProfileSplit:
    """An admin moved `identifiers` off this profile into `new_profile_id`."""

    identifiers: tuple[Identifier, ...]
    new_profile_id: str
    request_id: str
    split_time: datetime
    reason: str = ""


@dataclass(frozen=True)
class StateRederived:
    """Traits and consent derived anew from the events that belong to the profile; they
    replace what it held."""

    traits: dict[str, TraitValue] = field(hash=False)
    consent: dict[str, bool] = field(hash=False)
    consent_time: dict[str, datetime] = field(hash=False)
    consent_source: dict[str, str] = field(hash=False)
    request_id: str = ""


ProfileEvent = (
    ProfileCreated
    | IdentifiersLinked
    | TraitsSet
    | ConsentChanged
    | ProfileAbsorbed
    | ProfileMergedInto
    | IdentifiersDropped
    | ProfileFlagged
    | ComputedTraitSet
    | AudienceEntered
    | AudienceExited
    | ProfileForgotten
    | EventReceived
    | ProfileSplit
    | StateRederived
)
