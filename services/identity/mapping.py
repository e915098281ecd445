"""Protobuf <-> domain for the identity service: the one place that knows both."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2, ingest_pb2
from layercake.identity.v1 import identity_service_pb2 as ipb
from layercake.identity.v1 import profile_events_pb2 as pe
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.events import (
    AudienceEntered,
    AudienceExited,
    ComputedTraitSet,
    ConsentChanged,
    EventReceived,
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
from services.identity.domain.forgetting import Forgotten
from services.identity.domain.identifiers import Identifier
from services.identity.domain.personal_data import Sealer, is_personal
from services.identity.domain.profile import Profile
from services.identity.domain.rule_preview import Group, RulePreview
from services.kernel.messaging import subjects
from services.kernel.protobuf import from_timestamp, plain_object, to_timestamp
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import OutboxMessage

PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name
EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name


def identifiers_from_struct(struct: struct_pb2.Struct) -> tuple[tuple[str, str], ...]:
    """`{"email": "A@x.com", "cookie_id": ["c1", "c2"]}` -> (type, raw value) pairs."""
    found: list[tuple[str, str]] = []
    for type_name, value in _values(struct).items():
        values = value if isinstance(value, list) else [value]
        for raw in values:
            if not isinstance(raw, str):
                raise BadIdentifier(f"identifier {type_name} must be a string")
            found.append((type_name, raw))
    return tuple(dict.fromkeys(found))


def _values(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as plain JSON values (numbers as floats), as `json_format.MessageToDict`
    gives them at a fraction of its cost on every event; ValueError, as it raises, for a
    number JSON cannot hold."""
    values = plain_object(struct)
    _require_finite(values)
    return values


def _require_finite(value: object) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
    elif isinstance(value, dict):
        for inner in value.values():
            _require_finite(inner)
    elif isinstance(value, list):
        for inner in value:
            _require_finite(inner)


def _plain(value: object) -> object:
    """Struct numbers are doubles: 3.0 was sent as 3, so integral values become ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def trait_json(value: object) -> str:
    """A trait value as identity holds it: canonical JSON of the plain value."""
    return json.dumps(_plain(value), sort_keys=True)


def command_from_ingested(payload: bytes) -> ApplyIngestedEvent:
    message = ingest_pb2.EventIngested.FromString(payload)
    event = message.event
    traits = {name: trait_json(value) for name, value in _values(event.traits).items()}
    context = _values(event.context)
    if isinstance(context.get("timezone"), str) and "timezone" not in traits:
        # where the person is, as their device reports it: quiet hours depend on it
        traits["timezone"] = json.dumps(context["timezone"])
    event_time = event.timestamp if event.HasField("timestamp") else message.receive_time
    return ApplyIngestedEvent(
        tenant_id=message.tenant_id,
        message_id=event.message_id,
        event_time=from_timestamp(event_time),
        identifiers=identifiers_from_struct(event.identifiers),
        traits=traits,
        consent=dict(event.consent),
        event_type=event.type,
        event_name=event.event,
        properties=_plain(_values(event.properties)),  # type: ignore[arg-type]
        context=context,
        receive_time=from_timestamp(message.receive_time),
        consent_source=channel if isinstance(channel := context.get("channel"), str) else "api",
    )


def _identifier_proto(i: Identifier) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=i.type, value=i.value, hashed=i.hashed)


def trait_proto(t: TraitValue) -> common_pb2.TraitValue:
    return common_pb2.TraitValue(json_value=t.json_value, set_time=to_timestamp(t.set_time))


def _seal_traits(event: TraitsSet, sealer: Sealer | None) -> pe.TraitsSet:
    sealer = _sealed(sealer)
    return pe.TraitsSet(
        traits={
            k: common_pb2.SealedTrait(
                sealed_json_value=sealer.seal(v.json_value), set_time=to_timestamp(v.set_time)
            )
            for k, v in event.traits.items()
        },
        message_id=event.message_id,
    )


def _open_traits(m: pe.TraitsSet, sealer: Sealer | None) -> TraitsSet:
    """Without a key (the person was forgotten) the trait values are gone."""
    if sealer is None:
        return TraitsSet({}, m.message_id)
    return TraitsSet(
        {
            k: TraitValue(sealer.open(v.sealed_json_value), from_timestamp(v.set_time))
            for k, v in m.traits.items()
        },
        m.message_id,
    )


def _sealed(sealer: Sealer | None) -> Sealer:
    if sealer is None:
        raise ValueError("trait values are stored only sealed: the profile's key is missing")
    return sealer


def _seal_received(event: EventReceived, sealer: Sealer | None) -> pe.EventReceived:
    seal = _sealed(sealer).seal
    return pe.EventReceived(
        message_id=event.message_id,
        event_time=to_timestamp(event.event_time),
        identifiers=[_identifier_proto(i) for i in event.identifiers],
        sealed_traits={k: seal(v) for k, v in event.traits.items()},
        consent=event.consent,
        type=event.type,
        event=event.event,
        consent_source=event.consent_source,
        sealed_details=seal(_details_json(event)) if event.properties or event.context else b"",
        linked=[_identifier_proto(i) for i in event.linked],
        traits_set=event.traits_set,
    )


def _details_json(event: EventReceived) -> str:
    return json.dumps({"properties": event.properties, "context": event.context}, sort_keys=True)


def _open_details(m: pe.EventReceived, sealer: Sealer | None) -> dict[str, Any]:
    if sealer is None or not m.sealed_details:
        return {}
    details = json.loads(sealer.open(m.sealed_details))
    return details if isinstance(details, dict) else {}


def _open_received(m: pe.EventReceived, sealer: Sealer | None) -> EventReceived:
    """Without a key (the person was forgotten) the trait values are gone."""
    return EventReceived(
        m.message_id,
        from_timestamp(m.event_time),
        tuple(Identifier(i.type, i.value, i.hashed) for i in m.identifiers),
        {} if sealer is None else {k: sealer.open(v) for k, v in m.sealed_traits.items()},
        dict(m.consent),
        m.type,
        m.event,
        m.consent_source,
        (details := _open_details(m, sealer)).get("properties", {}),
        details.get("context", {}),
        tuple(Identifier(i.type, i.value, i.hashed) for i in m.linked),
        tuple(m.traits_set),
    )


def _seal_rederived(event: StateRederived, sealer: Sealer | None) -> pe.StateRederived:
    seal = _sealed(sealer).seal
    return pe.StateRederived(
        traits={
            k: common_pb2.SealedTrait(
                sealed_json_value=seal(v.json_value), set_time=to_timestamp(v.set_time)
            )
            for k, v in event.traits.items()
        },
        consent=event.consent,
        consent_time={k: to_timestamp(v) for k, v in event.consent_time.items()},
        consent_source=event.consent_source,
        request_id=event.request_id,
    )


def _open_rederived(m: pe.StateRederived, sealer: Sealer | None) -> StateRederived:
    traits = {
        k: TraitValue(sealer.open(v.sealed_json_value), from_timestamp(v.set_time))
        for k, v in m.traits.items()
        if sealer is not None
    }
    return StateRederived(
        traits,
        dict(m.consent),
        {k: from_timestamp(v) for k, v in m.consent_time.items()},
        dict(m.consent_source),
        m.request_id,
    )


# Every event identity stores; a new one is a proto message, a dataclass and a line here.
# The context is the profile's sealer (None once the person is forgotten).
EVENTS: EventTypes[ProfileEvent, Sealer | None] = EventTypes()
EVENTS.register(pe.ProfileCreated, ProfileCreated)
EVENTS.register(pe.IdentifiersLinked, IdentifiersLinked)
EVENTS.register(pe.TraitsSet, TraitsSet, encode=_seal_traits, decode=_open_traits)  # type: ignore[arg-type]
EVENTS.register(pe.ConsentChanged, ConsentChanged)
EVENTS.register(pe.ProfileAbsorbed, ProfileAbsorbed)
EVENTS.register(pe.ProfileMergedInto, ProfileMergedInto)
EVENTS.register(pe.IdentifiersDropped, IdentifiersDropped)
EVENTS.register(pe.ProfileFlagged, ProfileFlagged)
EVENTS.register(pe.ComputedTraitSet, ComputedTraitSet)
EVENTS.register(pe.AudienceEntered, AudienceEntered)
EVENTS.register(pe.AudienceExited, AudienceExited)
EVENTS.register(pe.ProfileForgotten, ProfileForgotten)
EVENTS.register(pe.EventReceived, EventReceived, encode=_seal_received, decode=_open_received)  # type: ignore[arg-type]
EVENTS.register(pe.ProfileSplit, ProfileSplit)
EVENTS.register(pe.StateRederived, StateRederived, encode=_seal_rederived, decode=_open_rederived)  # type: ignore[arg-type]


def profile_proto(profile: Profile) -> common_pb2.Profile:
    message = common_pb2.Profile(
        tenant_id=profile.tenant_id,
        profile_id=profile.profile_id,
        version=profile.version,
        identifiers=[_identifier_proto(i) for i in sorted(profile.identifiers)],
        traits={k: trait_proto(v) for k, v in profile.traits.items()},
        consent=profile.consent,
    )
    if profile.create_time is not None:
        message.create_time.CopyFrom(to_timestamp(profile.create_time))
    if profile.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(profile.update_time))
    return message


def profile_updated(
    profile: Profile,
    changes: Sequence[ProfileEvent],
    cause_message_id: str,
    traceparent: str,
    sealer: Sealer,
) -> OutboxMessage:
    """The integration event: what `changes` did, at the profile's version after them.

    Never the whole profile, so an event stays small whatever the profile holds;
    personal traits go sealed, so the IDENTITY stream never holds them in clear.
    """
    message = identity_events_pb2.ProfileUpdated(
        tenant_id=profile.tenant_id,
        profile_id=profile.profile_id,
        version=profile.version,
        identifier_count=len(profile.identifiers),
        cause_message_id=cause_message_id,
    )
    for event in changes:
        match event:
            case IdentifiersLinked(identifiers) | EventReceived(linked=identifiers):
                message.linked_identifiers.extend(_identifier_proto(i) for i in identifiers)
                if isinstance(event, EventReceived):
                    _add_traits(message, event.won_traits, sealer)
            case StateRederived(traits, consent):  # the whole state: followers dropped theirs
                message.linked_identifiers.extend(
                    _identifier_proto(i) for i in sorted(profile.identifiers)
                )
                _add_traits(message, traits, sealer)
                message.consent.update(consent)
            case TraitsSet(traits):
                _add_traits(message, traits, sealer)
            case ConsentChanged(consent) | ProfileAbsorbed(consent=consent):
                message.consent.update(consent)
                if isinstance(event, ProfileAbsorbed):
                    message.linked_identifiers.extend(
                        _identifier_proto(link.identifier) for link in event.links
                    )
    if profile.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(profile.update_time))
    return _integration(
        profile.tenant_id, profile.profile_id, "profile_updated", message, traceparent
    )


def _add_traits(
    message: identity_events_pb2.ProfileUpdated, traits: Mapping[str, TraitValue], sealer: Sealer
) -> None:
    """Personal traits go sealed, so the IDENTITY stream never holds them in clear."""
    for name, trait in traits.items():
        if is_personal(name):
            message.sealed_traits[name].CopyFrom(
                common_pb2.SealedTrait(
                    sealed_json_value=sealer.seal(trait.json_value),
                    set_time=to_timestamp(trait.set_time),
                )
            )
        else:
            message.traits[name].CopyFrom(trait_proto(trait))


def profile_unmerged(
    profile: Profile, new_profile: Profile, request_id: str, at: datetime, traceparent: str
) -> OutboxMessage:
    """The integration event of an unmerge; the ProfileUpdated of each profile follows."""
    message = identity_events_pb2.ProfileUnmerged(
        tenant_id=profile.tenant_id,
        profile_id=profile.profile_id,
        new_profile_ids=[new_profile.profile_id],
        version=profile.version,
        unmerge_time=to_timestamp(at),
        request_id=request_id,
    )
    return _integration(
        profile.tenant_id, profile.profile_id, "profile_unmerged", message, traceparent
    )


def profiles_merged(
    survivor: Profile, merged: Sequence[str], at: datetime, cause_message_id: str, traceparent: str
) -> OutboxMessage:
    """The integration event of a merge: followers move the merged-away ids to the survivor."""
    message = identity_events_pb2.ProfilesMerged(
        tenant_id=survivor.tenant_id,
        survivor_profile_id=survivor.profile_id,
        merged_profile_ids=list(merged),
        version=survivor.version,
        merge_time=to_timestamp(at),
        cause_message_id=cause_message_id,
    )
    return _integration(
        survivor.tenant_id, survivor.profile_id, "profiles_merged", message, traceparent
    )


def profile_forgotten(
    tenant_id: str, forgotten: Forgotten, version: int, request_id: str, traceparent: str
) -> OutboxMessage:
    """The integration event of a forget: followers delete their copies of every id."""
    message = identity_events_pb2.ProfileForgotten(
        tenant_id=tenant_id,
        profile_id=forgotten.profile_id,
        alias_profile_ids=list(forgotten.alias_profile_ids),
        version=version,
        forget_time=to_timestamp(forgotten.forget_time),
        request_id=request_id,
    )
    return _integration(tenant_id, forgotten.profile_id, "profile_forgotten", message, traceparent)


def forgotten_proto(forgotten: Forgotten) -> ipb.ForgetProfileResponse:
    return ipb.ForgetProfileResponse(
        profile_id=forgotten.profile_id,
        alias_profile_ids=list(forgotten.alias_profile_ids),
        forget_time=to_timestamp(forgotten.forget_time),
    )


def rule_preview_proto(preview: RulePreview) -> ipb.DryRunIdentifierRulesResponse:
    def groups(found: Sequence[Group]) -> list[ipb.IdentifierGroup]:
        return [
            ipb.IdentifierGroup(identifiers=[_identifier_proto(i) for i in sorted(g)])
            for g in found
        ]

    return ipb.DryRunIdentifierRulesResponse(
        message_count=preview.messages,
        appearing_merges=groups(preview.merges_appearing),
        disappearing_merges=groups(preview.merges_disappearing),
        changed_profile_count=preview.profiles_changed,
    )


def _integration(
    tenant_id: str, subject_ref: str, event: str, message: Message, traceparent: str
) -> OutboxMessage:
    """An integration event of identity, on `layercake.<tenant>.identity.<event>`."""
    return OutboxMessage(
        subject=subjects.integration(tenant_id, "identity", event),
        type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(),
        tenant_id=tenant_id,
        source="identity",
        subject_ref=subject_ref,
        traceparent=traceparent,
    )


def identifier_rules_published(
    tenant_id: str, version: int, content_hash: str, at: datetime, traceparent: str
) -> OutboxMessage:
    """What every identity replica hears of, to drop the tenant's cached rules."""
    message = identity_events_pb2.IdentifierRulesPublished(
        tenant_id=tenant_id,
        version=version,
        content_hash=content_hash,
        publish_time=to_timestamp(at),
    )
    return _integration(
        tenant_id, "identifier_rules", "identifier_rules_published", message, traceparent
    )


def segment_changes(
    tenant_id: str,
    profile_id: str,
    first_version: int,
    events: Sequence[ProfileEvent],
    traceparent: str,
) -> list[OutboxMessage]:
    """ComputedTraitChanged, AudienceEntered and AudienceExited for the profile's recorded
    events, each with its version in the profile's stream (`first_version` is the first's)."""
    found: list[OutboxMessage] = []
    for version, event in enumerate(events, start=first_version):
        message: Message
        match event:
            case ComputedTraitSet(name, json_value, change_time):
                message = identity_events_pb2.ComputedTraitChanged(
                    tenant_id=tenant_id,
                    profile_id=profile_id,
                    name=name,
                    version=version,
                    change_time=to_timestamp(change_time),
                )
                if json_value is not None:
                    message.value.CopyFrom(trait_proto(TraitValue(json_value, change_time)))
                subject = "computed_trait_changed"
            case AudienceEntered(audience_id, audience_version, enter_time):
                message = identity_events_pb2.AudienceEntered(
                    tenant_id=tenant_id,
                    profile_id=profile_id,
                    audience_id=audience_id,
                    audience_version=audience_version,
                    version=version,
                    enter_time=to_timestamp(enter_time),
                )
                subject = "audience_entered"
            case AudienceExited(audience_id, audience_version, exit_time):
                message = identity_events_pb2.AudienceExited(
                    tenant_id=tenant_id,
                    profile_id=profile_id,
                    audience_id=audience_id,
                    audience_version=audience_version,
                    version=version,
                    exit_time=to_timestamp(exit_time),
                )
                subject = "audience_exited"
            case _:
                continue
        found.append(_integration(tenant_id, profile_id, subject, message, traceparent))
    return found


def segments_published(
    tenant_id: str, kind: str, asset_id: str, version: int, at: datetime, traceparent: str
) -> OutboxMessage:
    """What every identity replica hears of, to drop the tenant's cached segments."""
    message = identity_events_pb2.SegmentsPublished(
        tenant_id=tenant_id,
        kind=kind,
        asset_id=asset_id,
        version=version,
        publish_time=to_timestamp(at),
    )
    return _integration(tenant_id, asset_id, "segments_published", message, traceparent)
