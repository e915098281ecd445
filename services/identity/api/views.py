"""Domain -> protobuf for the identity read API (GetProfile's details, history, timeline)."""

from __future__ import annotations

from google.protobuf import json_format

from layercake.common.v1 import common_pb2
from layercake.identity.v1 import identity_service_pb2 as pb
from services.identity import mapping
from services.identity.domain.events import EventReceived
from services.identity.domain.profile import Profile
from services.identity.queries import TraitChange
from services.kernel.errors import InvalidArgument
from services.kernel.protobuf import to_timestamp


def _identifier(type_name: str, value: str, hashed: bool) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=type_name, value=value, hashed=hashed)


def profile_response(profile: Profile) -> pb.GetProfileResponse:
    """The profile with its identities' provenance, consent decisions, aliases, computed
    traits and the audiences it is in."""
    response = pb.GetProfileResponse(
        profile=mapping.profile_proto(profile), alias_profile_ids=list(profile.aliases)
    )
    for i in sorted(profile.links):
        link = profile.links[i]
        identity = response.identities.add(
            identifier=_identifier(i.type, i.value, i.hashed), message_id=link.message_id
        )
        if link.link_time is not None:
            identity.link_time.CopyFrom(to_timestamp(link.link_time))
    for purpose, granted in profile.consent.items():
        decision = response.consent[purpose]
        decision.granted = granted
        decision.source = profile.consent_source.get(purpose, "")
        if purpose in profile.consent_time:
            decision.decide_time.CopyFrom(to_timestamp(profile.consent_time[purpose]))
    for name, value in profile.computed.items():
        computed = response.computed_traits[name]
        computed.json_value = value.json_value
        computed.update_time.CopyFrom(to_timestamp(value.set_time))
    response.audiences.extend(
        pb.AudienceMembership(audience_id=a) for a in sorted(profile.audiences)
    )
    return response


def profile_event(event: EventReceived) -> pb.ProfileEvent:
    return pb.ProfileEvent(
        message_id=event.message_id,
        type=event.type,
        event=event.event,
        event_time=to_timestamp(event.event_time),
        identifiers=[_identifier(i.type, i.value, i.hashed) for i in event.identifiers],
    )


def trait_change(change: TraitChange) -> pb.TraitChange:
    return pb.TraitChange(
        trait=change.trait,
        json_value=change.json_value,
        set_time=to_timestamp(change.set_time),
        message_id=change.message_id,
    )


def searched_value(request: pb.SearchProfilesRequest) -> str:
    """The value as traits hold it (canonical JSON, integral numbers as ints); "" when unset."""
    if not request.HasField("value"):
        return ""
    try:
        return mapping.trait_json(json_format.MessageToDict(request.value))
    except ValueError as e:
        raise InvalidArgument.field("value", str(e)[:200]) from None
