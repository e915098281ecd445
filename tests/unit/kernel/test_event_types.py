"""The event-type registry: dataclasses that map themselves, upcasting old payloads,
and one error for stored types nobody registered."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.identity.domain.events import ConsentChanged, IdentifiersLinked, ProfileCreated
from services.identity.domain.identifiers import Identifier
from services.identity.mapping import EVENTS as IDENTITY_EVENTS
from services.kernel.errors import UnknownEventType, Unprocessable
from services.kernel.principals import Actor
from services.kernel.store.event_types import EventTypes
from services.kernel.store.records import EventMetadata, NewEvent, StoredEvent

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
NAME = "layercake.test.v1.GuestRegistered"


def message_class(*fields: str) -> type[Message]:
    """`GuestRegistered` with the given string fields, in its own pool: each schema
    version of the test event is a real protobuf message of the same full name."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"guest_{'_'.join(fields)}.proto", package="layercake.test.v1", syntax="proto3"
    )
    message = file.message_type.add(name="GuestRegistered")
    for number, name in enumerate(fields, start=1):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName(NAME))


V1 = message_class("full_name")  # version 1: one field with the whole name
V2 = message_class("given_name", "family_name")  # version 2: split in two


@dataclass(frozen=True)
class GuestRegistered:
    given_name: str
    family_name: str


def stored(new: NewEvent, schema_version: int | None = None) -> StoredEvent:
    return StoredEvent(
        position=1,
        stream_id="guest-1",
        version=1,
        event_id=new.event_id,
        type=new.type,
        payload=new.payload,
        metadata=EventMetadata("acme", Actor.system("test")),
        recorded_time=AT,
        schema_version=new.schema_version if schema_version is None else schema_version,
    )


def guests() -> EventTypes[GuestRegistered, None]:
    registry: EventTypes[GuestRegistered, None] = EventTypes()
    registry.register(V2, GuestRegistered, version=2)

    @registry.upcast(V2, from_version=1)
    def split_name(payload: bytes) -> bytes:
        given, _, family = V1.FromString(payload).full_name.partition(" ")  # type: ignore[attr-defined]
        return V2(given_name=given, family_name=family).SerializeToString()

    return registry


def test_an_old_event_reaches_the_domain_in_the_current_shape() -> None:
    old = NewEvent(NAME, V1(full_name="Ada Lovelace").SerializeToString())
    assert old.schema_version == 1
    assert guests().decode(stored(old), None) == GuestRegistered("Ada", "Lovelace")


def test_new_events_are_written_at_the_current_version_and_read_back_as_is() -> None:
    registry = guests()
    new = registry.new_event(GuestRegistered("Grace", "Hopper"), None)
    assert (new.type, new.schema_version) == (NAME, 2)
    assert registry.decode(stored(new), None) == GuestRegistered("Grace", "Hopper")


def test_a_version_without_its_upcaster_or_from_the_future_is_refused() -> None:
    registry: EventTypes[GuestRegistered, None] = EventTypes()
    registry.register(V2, GuestRegistered, version=3)
    new = NewEvent(NAME, V2(given_name="a").SerializeToString())
    with pytest.raises(UnknownEventType, match="schema version 1"):
        registry.decode(stored(new, schema_version=1), None)
    with pytest.raises(UnknownEventType, match="schema version 4"):
        registry.decode(stored(new, schema_version=4), None)


def test_an_unknown_type_names_the_type_and_the_stream() -> None:
    new = NewEvent("layercake.test.v1.Nobody", b"")
    with pytest.raises(UnknownEventType) as caught:
        guests().decode(stored(new), None)
    assert "'layercake.test.v1.Nobody'" in str(caught.value)
    assert "'guest-1'" in str(caught.value)


def test_a_payload_that_does_not_parse_is_unprocessable() -> None:
    with pytest.raises(Unprocessable, match="guest-1"):
        guests().decode(stored(NewEvent(NAME, b"\xff\xff", schema_version=2)), None)


@pytest.mark.parametrize(
    "event",
    [
        ProfileCreated("acme", "p1", AT),
        IdentifiersLinked((Identifier("email", "ab" * 32, True), Identifier("cookie_id", "c1"))),
        ConsentChanged({"analytics": True, "advertising": False}, AT),
        ConsentChanged({"analytics": False}, None),
    ],
)
def test_dataclasses_that_mirror_their_message_map_themselves(event: object) -> None:
    new = IDENTITY_EVENTS.new_event(event, None)  # type: ignore[arg-type]
    assert new.type == f"layercake.identity.v1.{type(event).__name__}"
    assert IDENTITY_EVENTS.decode(stored(new), None) == event


def test_a_dataclass_that_does_not_mirror_its_message_is_refused_at_registration() -> None:
    @dataclass(frozen=True)
    class Guest:
        name: str

    registry: EventTypes[Guest, None] = EventTypes()
    with pytest.raises(TypeError, match=r"\['family_name', 'given_name', 'name'\]"):
        registry.register(V2, Guest)


def test_a_type_is_registered_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        guests().register(V2, GuestRegistered)


def test_an_event_just_appended_projects_as_the_domain_event_it_was_made_from() -> None:
    registry = guests()
    event = GuestRegistered("Ada", "Lovelace")
    new = registry.new_event(event, None)
    appended = dataclasses.replace(stored(new), payload=b"\xff", domain_event=new.domain_event)
    assert registry.decode(appended, None) is event  # the payload is not even read
    assert registry.decode(stored(new), None) == event  # a load decodes it
    with pytest.raises(Unprocessable):
        registry.decode(dataclasses.replace(appended, domain_event=None), None)
