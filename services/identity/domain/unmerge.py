"""Unmerge: splitting a wrongly merged profile by identifiers, re-deriving both sides.

Identity keeps every ingested event a profile took (`EventReceived`, on the stream
of the profile that took it). An event belongs to a profile when it carried an
identifier the profile holds; so after a split each side's traits and consent are
the fold, by event time, of the events that belong to it (an event that carried
identifiers of both sides belongs to both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from services.identity.domain.events import (
    EventReceived,
    ProfileAbsorbed,
    ProfileEvent,
    StateRederived,
    TraitValue,
)
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile
from services.kernel.errors import FailedPrecondition, InvalidArgument


def received(
    profile_id: str, events_of: Callable[[str], Sequence[ProfileEvent]]
) -> list[EventReceived]:
    """Every event the profile and the profiles merged into it took, once each, in event-time
    order (`events_of(profile_id)` is a profile's whole stream)."""
    found: dict[str, EventReceived] = {}
    todo, seen = [profile_id], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for event in events_of(current):
            if isinstance(event, EventReceived):
                found.setdefault(event.message_id, event)
            elif isinstance(event, ProfileAbsorbed):
                todo.append(event.absorbed_profile_id)
    return sorted(found.values(), key=lambda e: (e.event_time, e.message_id))


def belonging(
    events: Iterable[EventReceived], held: set[Identifier], keeps_unidentified: bool = False
) -> list[EventReceived]:
    """The events that carried an identifier of `held`; with `keeps_unidentified`, also those
    that carried none (changes other layers asked for by profile id: they stay with the
    profile that was split)."""
    return [
        e
        for e in events
        if not held.isdisjoint(e.identifiers) or (keeps_unidentified and not e.identifiers)
    ]


def sides(
    events: Sequence[EventReceived], kept: set[Identifier], moved: set[Identifier]
) -> tuple[list[EventReceived], list[EventReceived]]:
    """(the split profile's events, the new profile's events) after an unmerge."""
    return belonging(events, kept, keeps_unidentified=True), belonging(events, moved)


def derived(events: Sequence[EventReceived], request_id: str) -> StateRederived:
    """Traits and consent as the events (in event-time order) set them: the latest wins."""
    traits: dict[str, TraitValue] = {}
    consent: dict[str, bool] = {}
    times: dict[str, datetime] = {}
    sources: dict[str, str] = {}
    for event in events:
        traits |= {k: TraitValue(v, event.event_time) for k, v in event.traits.items()}
        consent |= event.consent
        times |= dict.fromkeys(event.consent, event.event_time)
        sources |= dict.fromkeys(event.consent, event.consent_source)
    return StateRederived(traits, consent, times, sources, request_id)


def unmerge(
    profile: Profile,
    moved: set[Identifier],
    events: Sequence[EventReceived],
    new_profile_id: str,
    request_id: str,
    at: datetime,
    reason: str = "",
) -> Profile:
    """Splits `moved` off `profile` into a new profile, both re-derived from `events` (all the
    events `profile` took, see `received`); returns the new profile (both unsaved)."""
    if not moved:
        raise InvalidArgument.field("identifiers", "name at least one identifier to split off")
    if missing := sorted(i.key for i in moved - profile.identifiers):
        raise FailedPrecondition(f"the profile holds no identifier {missing[0][:80]!r}")
    remaining = profile.identifiers - moved
    if not remaining:
        raise FailedPrecondition("an unmerge must leave the profile at least one identifier")
    provenance: dict[tuple[str, datetime], list[Identifier]] = {}
    for i in sorted(moved):
        link = profile.links[i]
        provenance.setdefault((link.message_id, link.link_time or at), []).append(i)
    ours, theirs = sides(events, remaining, moved)
    profile.split(moved, new_profile_id, request_id, at, reason)
    profile.rederive(derived(ours, request_id))

    split_off = Profile.create(profile.tenant_id, new_profile_id, at)
    for (message_id, link_time), ids in provenance.items():  # each keeps its provenance
        split_off.link(ids, link_time, message_id)
    for event in theirs:
        split_off.receive(event)
    split_off.rederive(derived(theirs, request_id))
    return split_off
