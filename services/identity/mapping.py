"""Protobuf <-> domain for the identity service: the one place that knows both."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from google.protobuf import json_format, struct_pb2

from layercake.common.v1 import common_pb2
from layercake.events.v1 import identity_events_pb2, ingest_pb2
from layercake.identity.v1 import profile_events_pb2 as pe
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.errors import BadIdentifier
from services.identity.domain.events import (
    ConsentChanged,
    IdentifiersLinked,
    ProfileCreated,
    ProfileEvent,
    TraitsSet,
    TraitValue,
)
from services.identity.domain.identifiers import Identifier, normalise
from services.identity.domain.personal_data import is_personal
from services.identity.domain.profile import Profile
from services.kernel.messaging import subjects
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.records import NewEvent, OutboxMessage, StoredEvent

PROFILE_UPDATED = identity_events_pb2.ProfileUpdated.DESCRIPTOR.full_name
EVENT_INGESTED = ingest_pb2.EventIngested.DESCRIPTOR.full_name
TRAITS_SET = pe.TraitsSet.DESCRIPTOR.full_name


def identifiers_from_struct(struct: struct_pb2.Struct) -> tuple[Identifier, ...]:
    """`{"email": "A@x.com", "cookie_id": ["c1", "c2"]}` -> normalised identifiers."""
    found: list[Identifier] = []
    for type_name, value in json_format.MessageToDict(struct).items():
        values = value if isinstance(value, list) else [value]
        for raw in values:
            if not isinstance(raw, str):
                raise BadIdentifier(f"identifier {type_name} must be a string")
            found.append(normalise(type_name, raw))
    return tuple(dict.fromkeys(found))


def _plain(value: object) -> object:
    """Struct numbers are doubles: 3.0 was sent as 3, so integral values become ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def command_from_ingested(payload: bytes) -> ApplyIngestedEvent:
    message = ingest_pb2.EventIngested.FromString(payload)
    event = message.event
    traits = {
        name: json.dumps(_plain(value), sort_keys=True)
        for name, value in json_format.MessageToDict(event.traits).items()
    }
    context = json_format.MessageToDict(event.context)
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
    )


def _identifier_proto(i: Identifier) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=i.type, value=i.value, hashed=i.hashed)


def _trait_proto(t: TraitValue) -> common_pb2.TraitValue:
    return common_pb2.TraitValue(json_value=t.json_value, set_time=to_timestamp(t.set_time))


class Sealer(Protocol):
    """Seals and opens personal data with one profile's key (see store.vault)."""

    def seal(self, plaintext: str) -> bytes: ...

    def open(self, sealed: bytes) -> str: ...


def to_new_event(event: ProfileEvent, sealer: Sealer) -> NewEvent:
    """The stored form of a profile event; trait values leave here only sealed."""
    message: pe.ProfileCreated | pe.IdentifiersLinked | pe.TraitsSet | pe.ConsentChanged
    match event:
        case ProfileCreated():
            message = pe.ProfileCreated(
                tenant_id=event.tenant_id,
                profile_id=event.profile_id,
                create_time=to_timestamp(event.create_time),
            )
        case IdentifiersLinked():
            message = pe.IdentifiersLinked(
                identifiers=[_identifier_proto(i) for i in event.identifiers]
            )
        case TraitsSet():
            message = pe.TraitsSet(
                traits={
                    k: common_pb2.SealedTrait(
                        sealed_json_value=sealer.seal(v.json_value),
                        set_time=to_timestamp(v.set_time),
                    )
                    for k, v in event.traits.items()
                },
                message_id=event.message_id,
            )
        case ConsentChanged():
            message = pe.ConsentChanged(consent=event.consent)
            if event.change_time is not None:
                message.change_time.CopyFrom(to_timestamp(event.change_time))
    return NewEvent(type=message.DESCRIPTOR.full_name, payload=message.SerializeToString())


def from_stored(event: StoredEvent, sealer: Sealer | None) -> ProfileEvent:
    """Decodes an identity event; without a key (forgotten) trait values are gone.

    Raises KeyError for a type this service never wrote.
    """
    if event.type == TRAITS_SET:
        return _traits(event.payload, sealer)
    decode = _DECODERS[event.type]
    return decode(event.payload)


def _created(payload: bytes) -> ProfileEvent:
    m = pe.ProfileCreated.FromString(payload)
    return ProfileCreated(m.tenant_id, m.profile_id, from_timestamp(m.create_time))


def _linked(payload: bytes) -> ProfileEvent:
    m = pe.IdentifiersLinked.FromString(payload)
    return IdentifiersLinked(tuple(Identifier(i.type, i.value, i.hashed) for i in m.identifiers))


def _traits(payload: bytes, sealer: Sealer | None) -> ProfileEvent:
    m = pe.TraitsSet.FromString(payload)
    if sealer is None:
        return TraitsSet({}, m.message_id)
    return TraitsSet(
        {
            k: TraitValue(sealer.open(v.sealed_json_value), from_timestamp(v.set_time))
            for k, v in m.traits.items()
        },
        m.message_id,
    )


def _consent(payload: bytes) -> ProfileEvent:
    m = pe.ConsentChanged.FromString(payload)
    at = from_timestamp(m.change_time) if m.HasField("change_time") else None
    return ConsentChanged(dict(m.consent), at)


_DECODERS = {
    pe.ProfileCreated.DESCRIPTOR.full_name: _created,
    pe.IdentifiersLinked.DESCRIPTOR.full_name: _linked,
    pe.ConsentChanged.DESCRIPTOR.full_name: _consent,
}


def profile_proto(profile: Profile) -> common_pb2.Profile:
    message = common_pb2.Profile(
        tenant_id=profile.tenant_id,
        profile_id=profile.profile_id,
        version=profile.version,
        identifiers=[_identifier_proto(i) for i in sorted(profile.identifiers)],
        traits={k: _trait_proto(v) for k, v in profile.traits.items()},
        consent=profile.consent,
    )
    if profile.create_time is not None:
        message.create_time.CopyFrom(to_timestamp(profile.create_time))
    if profile.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(profile.update_time))
    return message


def profile_updated(
    profile: Profile,
    changed_traits: Iterable[str],
    cause_message_id: str,
    traceparent: str,
    sealer: Sealer,
) -> OutboxMessage:
    """The integration event other services project: the whole view, so no call-backs,
    with personal traits sealed so the IDENTITY stream never holds them in clear."""
    view = profile_proto(profile)
    sealed = {}
    for name in [n for n in view.traits if is_personal(n)]:
        trait = profile.traits[name]
        sealed[name] = common_pb2.SealedTrait(
            sealed_json_value=sealer.seal(trait.json_value), set_time=to_timestamp(trait.set_time)
        )
        del view.traits[name]
    message = identity_events_pb2.ProfileUpdated(
        profile=view,
        changed_traits=sorted(changed_traits),
        cause_message_id=cause_message_id,
        sealed_traits=sealed,
    )
    if profile.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(profile.update_time))
    return OutboxMessage(
        subject=subjects.integration(profile.tenant_id, "identity", "profile_updated"),
        type=PROFILE_UPDATED,
        payload=message.SerializeToString(),
        tenant_id=profile.tenant_id,
        source="identity",
        subject_ref=profile.profile_id,
        traceparent=traceparent,
    )
