"""What the engine knows of a person and of the event that moved them, as CEL sees it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.orchestrator.domain.contact_state import known_time_zone
from services.orchestrator.domain.sending import ProfileSnapshot

TIME_ZONE = "timezone"  # the trait, and the event context key, that name a person's zone
# Context keys that name or track the person (Segment's spec): a run does not keep them.
PERSONAL_CONTEXT = frozenset({"traits", "ip", "userAgent", "userAgentData"})
PERSONAL_DEVICE = frozenset({"id", "advertisingId", "token"})
MAX_CONTEXT = 16 * 1024  # bytes of JSON a run keeps for Decide
BACK_IN_STOCK = "back_in_stock"  # the entry, and the event name, of a back-in-stock run


@dataclass(frozen=True)
class ProfileView:
    """A profile as identity answered for it (traits, consent, computed traits, the
    audiences it is in), or as the contact state knows it (consent, zone, and the address
    traits identity holds by name only: `sealed_addresses`)."""

    tenant_id: str
    profile_id: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    computed: Mapping[str, Any] = field(default_factory=dict)
    audiences: frozenset[str] = frozenset()
    sealed_addresses: frozenset[str] = frozenset()

    @property
    def time_zone(self) -> str:
        """The IANA zone of the `timezone` trait; '' when absent or not a zone."""
        value = self.traits.get(TIME_ZONE)
        return known_time_zone(value) if isinstance(value, str) else ""


@dataclass(frozen=True)
class TriggerEvent:
    """A track or identify event as ingested: what enters, ends waits and meets goals."""

    message_id: str
    type: str
    name: str
    time: datetime
    received_time: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def time_zone(self) -> str:
        value = self.context.get(TIME_ZONE)
        return known_time_zone(value) if isinstance(value, str) else ""


@dataclass(frozen=True)
class Decision:
    """The decision service's answer for a placement (the chosen action)."""

    action: str
    product: str = ""
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


def time_zone_of(profile: ProfileView, event: TriggerEvent | None) -> str:
    """The profile's zone, else the zone the event's context names, else '' (UTC)."""
    return profile.time_zone or (event.time_zone if event is not None else "")


def snapshot(profile: ProfileView, event: TriggerEvent | None) -> ProfileSnapshot:
    """The profile as a send and a CEL condition see it, in its zone (see `time_zone_of`)."""
    return ProfileSnapshot(
        profile.profile_id,
        traits=dict(profile.traits),
        consent=dict(profile.consent),
        time_zone=time_zone_of(profile, event),
        computed=dict(profile.computed),
        audiences=profile.audiences,
        sealed_addresses=profile.sealed_addresses,
    )


def activation(
    profile: ProfileView,
    event: TriggerEvent | None,
    decision: Mapping[str, Any] | None,
    *,
    now: datetime,
    journey_id: str,
    step_id: str,
) -> dict[str, Any]:
    """The variables of `rules.CONDITION` for one evaluation."""
    zone = time_zone_of(profile, event)
    return {
        "profile": snapshot(profile, event).as_cel(),
        "event": {
            "id": event.message_id if event else "",
            "type": event.type if event else "",
            "name": event.name if event else "",
            "time": event.time if event else now,
            "received_time": event.received_time if event else now,
            "properties": dict(event.properties) if event else {},
            "traits": dict(event.traits) if event else {},
            "context": dict(event.context) if event else {},
        },
        "context": {
            "now": now,
            "tenant": profile.tenant_id,
            "channel": "",
            "timezone": zone,
            "journey": journey_id,
            "step": step_id,
        },
        "decision": {
            "action": "",
            "product": "",
            "placement": "",
            "score": 0.0,
            "reasons": [],
            "attributes": {},
            **(decision or {}),
        },
    }


def restock_event(
    product: str, store: str, units: int, send_id: str, cause_id: str, now: datetime
) -> TriggerEvent:
    """What enters a back-in-stock run: `event.properties` name the product, the store,
    the units now there and the send that was suppressed for it."""
    properties = {"product": product, "store": store, "units": units, "send_id": send_id}
    return TriggerEvent(cause_id, "track", BACK_IN_STOCK, now, now, properties)


def decide_context(event: TriggerEvent | None) -> dict[str, Any]:
    """What a run's decide steps pass to Decide: the entry event's context (location,
    weather, device, stock...; without what names or tracks the person) and, under
    `event`, its name and properties. Bounded: the properties go first, then all."""
    if event is None:
        return {}
    context = {k: v for k, v in event.context.items() if k not in PERSONAL_CONTEXT}
    device = context.get("device")
    if isinstance(device, Mapping):
        context["device"] = {k: v for k, v in device.items() if k not in PERSONAL_DEVICE}
    found = {**context, "event": {"name": event.name, "properties": dict(event.properties)}}
    for kept in (found, {**context, "event": {"name": event.name}}):
        if len(json.dumps(kept, default=str)) <= MAX_CONTEXT:
            return kept
    return {"event": {"name": event.name}}
