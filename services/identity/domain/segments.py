"""What a tenant segments people by, and how an event or an expiry changes a profile.

`Segments` is the tenant's live configuration: the published computed-trait definitions
and the published audiences. `track` folds one event into a trait's window, `expire`
drops what left it; both record the trait's new value on the profile, and
`evaluate_audiences` then records the audiences entered and left. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.audiences import AudienceDefinition
from services.identity.domain.computed_traits import ComputedTraitDefinition, TrackedEvent
from services.identity.domain.profile import Profile
from services.identity.domain.windows import Window


@dataclass(frozen=True)
class Segments:
    traits: tuple[ComputedTraitDefinition, ...] = ()
    audiences: tuple[AudienceDefinition, ...] = ()

    def traits_for(self, event_name: str) -> tuple[ComputedTraitDefinition, ...]:
        """The computed traits an event of this name may count in."""
        if not event_name:
            return ()
        return tuple(d for d in self.traits if d.event == event_name)

    def trait(self, name: str) -> ComputedTraitDefinition | None:
        return next((d for d in self.traits if d.name == name), None)


NONE = Segments()


def track(
    profile: Profile,
    definition: ComputedTraitDefinition,
    window: Window,
    event: TrackedEvent,
    event_time: datetime,
    now: datetime,
) -> bool:
    """Folds the event into the window (when it counts) and records the trait's value;
    True when the window changed, so the store keeps it and its expiry timer."""
    expired = window.expire(now, definition.window)
    counts, value = definition.reads(event)
    added = counts and window.add(event_time, value, definition.aggregation, now, definition.window)
    if added or expired:
        profile.set_computed(definition.name, window.value(definition.aggregation), event_time)
    return added or expired


def expire(
    profile: Profile, definition: ComputedTraitDefinition, window: Window, now: datetime
) -> bool:
    """Drops what left the window by `now` and records the trait's value; True on a change."""
    if not window.expire(now, definition.window):
        return False
    profile.set_computed(definition.name, window.value(definition.aggregation), now)
    return True
