"""Identity's answers as the gateway's own public messages (AIP: internal messages are not
re-exported): traits as JSON values, identifiers with their provenance."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from layercake.common.v1 import common_pb2
from layercake.gateway.v1 import profiles_service_pb2 as pb
from layercake.identity.v1 import identity_service_pb2 as ipb


def json_value(text: str) -> struct_pb2.Value:
    """A stored JSON value as a protobuf Value (a string when it is not JSON)."""
    value = struct_pb2.Value()
    try:
        json_format.Parse(text, value)
    except json_format.ParseError:
        value.string_value = text
    return value


def _trait(text: str, at: Timestamp) -> pb.TraitValue:
    return pb.TraitValue(value=json_value(text), set_time=at)


def _identifier(i: common_pb2.Identifier) -> pb.ProfileIdentifier:
    return pb.ProfileIdentifier(type=i.type, value=i.value, hashed=i.hashed)


def profile(found: common_pb2.Profile) -> pb.Profile:
    """A profile as identity projects it: identifiers, traits and consent (no provenance)."""
    return pb.Profile(
        profile_id=found.profile_id,
        version=found.version,
        identifiers=[_identifier(i) for i in found.identifiers],
        traits={k: _trait(t.json_value, t.set_time) for k, t in found.traits.items()},
        consent={k: pb.ConsentDecision(granted=v) for k, v in found.consent.items()},
        create_time=found.create_time,
        update_time=found.update_time,
    )


def profile_details(found: ipb.GetProfileResponse) -> pb.Profile:
    """GetProfile's whole answer: identifiers with provenance, consent with its source,
    computed traits, audiences and aliases."""
    view = profile(found.profile)
    if found.identities:
        del view.identifiers[:]
        for identity in found.identities:
            identifier = _identifier(identity.identifier)
            identifier.message_id = identity.message_id
            if identity.HasField("link_time"):
                identifier.link_time.CopyFrom(identity.link_time)
            view.identifiers.append(identifier)
    for purpose, decision in found.consent.items():
        view.consent[purpose].CopyFrom(
            pb.ConsentDecision(
                granted=decision.granted, source=decision.source, decide_time=decision.decide_time
            )
        )
    for name, computed in found.computed_traits.items():
        view.computed_traits[name].CopyFrom(_trait(computed.json_value, computed.update_time))
    view.audiences.extend(
        pb.AudienceMembership(audience_id=a.audience_id, enter_time=a.enter_time)
        for a in found.audiences
    )
    view.alias_profile_ids.extend(found.alias_profile_ids)
    return view


def profile_event(event: ipb.ProfileEvent) -> pb.ProfileEvent:
    return pb.ProfileEvent(
        message_id=event.message_id,
        type=event.type,
        event=event.event,
        event_time=event.event_time,
        identifiers=[_identifier(i) for i in event.identifiers],
    )


def trait_change(change: ipb.TraitChange) -> pb.TraitChange:
    return pb.TraitChange(
        trait=change.trait,
        value=json_value(change.json_value),
        set_time=change.set_time,
        message_id=change.message_id,
    )


def audience_member(member: ipb.AudienceMember) -> pb.AudienceMember:
    return pb.AudienceMember(
        profile_id=member.profile_id,
        audience_version=member.audience_version,
        enter_time=member.enter_time,
    )
