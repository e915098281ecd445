"""Computed traits and audiences in the service layer: as events arrive, as windows expire.

`count_event` runs inside the ingest handler's unit of work, after resolution: windows of
merged-away profiles move to the survivor, the event is folded into the windows of the
traits that read it, each window's expiry timer is (re)set, and the audiences are
evaluated. `expire_window` is the timer's handler. Both record on the profile's stream;
`publish_segment_changes` turns what they recorded into integration events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

from services.identity import mapping
from services.identity.domain.audiences import evaluate_audiences
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.computed_traits import ComputedTraitDefinition, TrackedEvent
from services.identity.domain.events import EventReceived, ProfileEvent
from services.identity.domain.profile import Profile
from services.identity.domain.segments import Segments, expire, track
from services.identity.domain.windows import Window
from services.identity.ports import ComputedWindows, IdentityUnitOfWork, StoredWindow
from services.kernel import telemetry
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata
from services.kernel.timers import Timer

# Window expiries act for no one but the platform.
EXPIRY_ACTOR = Actor.system("identity-computed-traits")


def tracked_event(cmd: ApplyIngestedEvent) -> TrackedEvent:
    """The ingested event as computed traits read it (CEL's `event` for `when`)."""
    event = tracked(
        EventReceived(
            cmd.message_id,
            cmd.event_time,
            (),
            dict(cmd.traits),
            type=cmd.event_type,
            event=cmd.event_name,
            properties=cmd.properties,
            context=cmd.context,
        )
    )
    if cmd.receive_time is not None:
        return replace(event, facts={**event.facts, "received_time": cmd.receive_time})
    return event


def tracked(received: EventReceived) -> TrackedEvent:
    """An event a profile took as computed traits read it: the same reading when it arrives
    and when an unmerge re-derives (which knows no receive time)."""
    facts = {
        "id": received.message_id,
        "type": received.type,
        "name": received.event,
        "time": received.event_time,
        "properties": received.properties,
        "traits": {k: json.loads(v) for k, v in received.traits.items()},
        "context": received.context,
    }
    return TrackedEvent(received.event, received.properties, facts)


def _window(
    windows: ComputedWindows, tenant_id: str, profile_id: str, d: ComputedTraitDefinition
) -> StoredWindow:
    """The stored window, or an empty one when there is none or it was computed under
    another definition (a changed definition counts from its publication on)."""
    stored = windows.get(tenant_id, profile_id, d.name)
    if stored is None or stored.fingerprint != d.fingerprint:
        return StoredWindow(d.fingerprint, Window.empty(d.window))
    return stored


def count_event(
    uow: IdentityUnitOfWork,
    profile: Profile,
    segments: Segments,
    cmd: ApplyIngestedEvent,
    absorbed: Sequence[str] = (),
) -> None:
    """Folds the event (and the windows of `absorbed` profiles) into `profile`'s computed
    traits and evaluates its audiences; the caller saves the profile."""
    now, windows, tenant = uow.now(), uow.computed_windows, profile.tenant_id
    touched: dict[str, StoredWindow] = {}
    # without computed traits live, the absorbed profiles' windows are left to their
    # timers, which drop the windows of merged-away profiles (no read per merge)
    for absorbed_id in absorbed if segments.traits else ():
        for name, theirs in windows.of_profile(tenant, absorbed_id).items():
            windows.delete(tenant, absorbed_id, name)
            d = segments.trait(name)
            if d is None or theirs.fingerprint != d.fingerprint:
                continue
            mine = touched.get(name) or _window(windows, tenant, profile.profile_id, d)
            mine.window.merge(theirs.window)
            mine.window.expire(now, d.window)
            profile.set_computed(name, mine.window.value(d.aggregation), cmd.event_time)
            touched[name] = mine
    if counting := segments.traits_for(cmd.event_name):  # most events count in none
        event = tracked_event(cmd)
        for d in counting:
            stored = touched.get(d.name) or _window(windows, tenant, profile.profile_id, d)
            if track(profile, d, stored.window, event, cmd.event_time, now):
                touched[d.name] = stored
    for name, stored in touched.items():
        d = segments.trait(name)
        assert d is not None
        windows.put(tenant, profile.profile_id, name, stored, stored.window.next_expiry(d.window))
    if profile.pending or absorbed:  # nothing changed: no rule over the profile can change
        evaluate_audiences(profile, segments.audiences, segments.traits, cmd.event_time)


def rederive_segments(
    uow: IdentityUnitOfWork,
    profile: Profile,
    events: Sequence[EventReceived],
    segments: Segments,
) -> None:
    """Rebuilds the profile's computed-trait windows from `events` (all it took, in event
    time order) under the published definitions, records the values and evaluates the
    audiences: what an unmerge does to each side. The caller saves the profile."""
    now, windows, tenant = uow.now(), uow.computed_windows, profile.tenant_id
    for d in segments.traits:
        window = Window.empty(d.window)
        for received in events:
            if received.event == d.event:
                counts, value = d.reads(tracked(received))
                if counts:
                    window.add(received.event_time, value, d.aggregation, now, d.window)
        window.expire(now, d.window)
        if window.buckets:
            stored = StoredWindow(d.fingerprint, window)
            windows.put(tenant, profile.profile_id, d.name, stored, window.next_expiry(d.window))
        else:
            windows.delete(tenant, profile.profile_id, d.name)
        if window.buckets or d.name in profile.computed:
            profile.set_computed(d.name, window.value(d.aggregation), now)
    evaluate_audiences(profile, segments.audiences, segments.traits, now)


def expire_window(
    uow: IdentityUnitOfWork,
    timer: Timer,
    segments: Segments,
    refresh: Callable[[], Segments] | None = None,
) -> None:
    """A window's oldest events left it: the trait's new value, the audiences it changes.

    A window of a profile that was merged away or forgotten, or of a trait no longer
    published (or published with another definition), is dropped; `refresh` reloads the
    definitions first when the cached ones disagree with the window's."""
    payload = json.loads(timer.payload)
    tenant, profile_id, name = timer.tenant_id, payload["profile_id"], payload["name"]
    windows, now = uow.computed_windows, uow.now()
    stored = windows.get(tenant, profile_id, name)
    try:
        profile = uow.profiles.get(tenant, profile_id)
    except LookupError:
        profile = None
    if stored is None or profile is None or profile.merged_into is not None or profile.forgotten:
        windows.delete(tenant, profile_id, name)
        return
    start = profile.version
    d = segments.trait(name)
    if (d is None or stored.fingerprint != d.fingerprint) and refresh is not None:
        segments = refresh()  # the cache may not have heard of a publish yet
        d = segments.trait(name)
    if d is None or stored.fingerprint != d.fingerprint:
        windows.delete(tenant, profile_id, name)
        profile.set_computed(name, None, now)
    else:
        expire(profile, d, stored.window, now)
        windows.put(tenant, profile_id, name, stored, stored.window.next_expiry(d.window))
    evaluate_audiences(profile, segments.audiences, segments.traits, now)
    changes = list(profile.pending)
    if not changes:
        return
    traceparent = telemetry.current_traceparent()
    uow.profiles.save(
        profile,
        EventMetadata(
            tenant_id=tenant, actor=EXPIRY_ACTOR, causation_id=timer.id, traceparent=traceparent
        ),
    )
    publish_segment_changes(uow, profile, start, changes)


def publish_segment_changes(
    uow: IdentityUnitOfWork, profile: Profile, start: int, changes: Sequence[ProfileEvent]
) -> None:
    """The integration events of what a save recorded after version `start`."""
    for message in mapping.segment_changes(
        profile.tenant_id,
        profile.profile_id,
        start + 1,
        changes,
        telemetry.current_traceparent(),
    ):
        uow.publish(message)
